// deps: src/parse/fastmsg.c src/parse/jsonv.c src/parse/utf8.c
// libs: cjson
/* Differential fuzzer for the hot-message fast path (src/fastmsg.c) against
 * the general path it stands in for (jsonv_validate at depth 2, then cJSON):
 * whenever fastmsg says PING or AUDIO, the general path must accept the same
 * bytes as an object whose "type" is that string, and for AUDIO its "data"
 * must be an array of integral numbers in -32768..65535 equal, as int16, to
 * the decoded samples, with the same count and the same sum of squares.
 * OTHER is always allowed (the general path then decides). The input is
 * copied to an exact-size heap block so ASan sees one-byte over-reads. */
#include "parse/fastmsg.h"
#include "parse/jsonv.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FZ_CAP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        abort();
    memcpy(p, data, n);
    static int16_t smp[FZ_CAP];
    struct fastmsg m;
    enum fastmsg_kind k = fastmsg_parse(p, n, smp, FZ_CAP, &m);
    if (k != m.kind || k > FASTMSG_AUDIO)
        abort();
    if (k == FASTMSG_OTHER) {
        free(p);
        return 0;
    }
    if (jsonv_validate(p, n, 2, NULL) != JSONV_OK)
        abort();
    cJSON *root = cJSON_ParseWithLength((const char *)p, n);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsObject(root) || !cJSON_IsString(type))
        abort();
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (k == FASTMSG_PING && (strcmp(type->valuestring, "ping") != 0 || d))
        abort();
    if (k == FASTMSG_AUDIO) {
        if (strcmp(type->valuestring, "audio_chunk") != 0 || !cJSON_IsArray(d) ||
            (size_t)cJSON_GetArraySize(d) != m.nsamples || m.nsamples > FZ_CAP)
            abort();
        size_t i = 0;
        uint64_t sum = 0;
        for (const cJSON *v = d->child; v; v = v->next, i++) {
            double x = v->valuedouble;
            if (!cJSON_IsNumber(v) || x != floor(x) || x < -32768 || x > 65535)
                abort();
            long s = (long)x;
            int16_t want = (int16_t)(s > 32767 ? s - 65536 : s);
            if (smp[i] != want)
                abort();
            sum += (uint64_t)((int32_t)want * want);
        }
        if (sum != m.sumsq)
            abort();
    }
    cJSON_Delete(root);
    free(p);
    return 0;
}
