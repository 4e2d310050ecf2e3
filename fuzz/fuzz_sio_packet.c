// deps: src/parse/sio_packet.c src/parse/jsonv.c src/parse/utf8.c
// libs: cjson
/* sio_parse fuzzer. Invariants: the result is a known code; on success the
 * slices lie inside the input, the namespace starts with '/', an ack has an
 * id, a binary type has 1..max attachments; re-encoding the head with
 * sio_encode_head and appending the payload parses back to the same packet
 * (for message packets whose namespace was comma-terminated or main); the
 * receive sequencer accepts exactly the announced attachments and refuses
 * a packet out of turn; when the payload is valid JSON the placeholder check
 * never crashes and refuses more than 999 placeholders. */
#include "parse/jsonv.h"
#include "parse/sio_packet.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

/* The contract edge: a code that is not one of ours still has a message. */
static void fz_edges(void)
{
    if (strcmp(sio_strerror(12345), "unknown error") != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_edges();
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        abort();
    memcpy(p, data, size);
    struct sio_packet k;
    int r = sio_parse(p, size, 4, &k);
    if (r > 0 || r < SIO_E_ATTACH_SIZE || !sio_strerror(r)[0])
        abort();
    static bool named; /* every code has a text (the close reason the server sends) */
    for (int e = SIO_E_ATTACH_SIZE; !named && e <= SIO_OK; e++)
        if (!sio_strerror(e)[0])
            abort();
    named = true;
    if (r == SIO_OK && k.eio == EIO_MESSAGE) {
        if (k.nsp.n == 0 || k.nsp.p[0] != '/')
            abort();
        if (k.data.p < (const char *)p || k.data.p + k.data.n != (const char *)p + size)
            abort();
        if ((k.type == SIO_ACK || k.type == SIO_BINARY_ACK) && !k.has_id)
            abort();
        bool bin = k.type == SIO_BINARY_EVENT || k.type == SIO_BINARY_ACK;
        if (bin != (k.attachments > 0) || k.attachments > 4)
            abort();
        char nsp[SIO_NSP_MAX + 2], head[256];
        memcpy(nsp, k.nsp.p, k.nsp.n);
        nsp[k.nsp.n] = 0;
        int hl = sio_encode_head(head, sizeof head, (enum sio_type)k.type, k.attachments, nsp,
                                 k.has_id ? (long long)k.id : -1);
        if (hl < 0)
            abort();
        size_t m = (size_t)hl + k.data.n;
        uint8_t *again = malloc(m ? m : 1);
        if (!again)
            abort();
        memcpy(again, head, (size_t)hl);
        memcpy(again + hl, k.data.p, k.data.n);
        struct sio_packet k2;
        if (sio_parse(again, m, 4, &k2) != SIO_OK || k2.type != k.type || k2.attachments != k.attachments ||
            k2.has_id != k.has_id || k2.id != k.id || k2.data.n != k.data.n ||
            !slice_eq(k2.nsp, k.nsp.p, k.nsp.n))
            abort();
        free(again);
        struct sio_rx rx = {.max_bytes = 100};
        uint32_t idx0;
        bool last0;
        if (sio_rx_text(&rx, &k) != SIO_OK || sio_rx_pending(&rx) != bin)
            abort();
        /* out of turn: text while attachments are due, binary when none are */
        if (bin && sio_rx_text(&rx, &k) != SIO_E_UNEXPECTED_TEXT)
            abort();
        if (!bin && sio_rx_binary(&rx, 1, &idx0, &last0) != SIO_E_UNEXPECTED_BINARY)
            abort();
        for (uint32_t i = 0; i < k.attachments; i++) {
            uint32_t idx;
            bool last;
            if (sio_rx_binary(&rx, 1, &idx, &last) != SIO_OK || idx != i || last != (i + 1 == k.attachments))
                abort();
        }
        if (sio_rx_pending(&rx))
            abort();
        size_t off;
        if (jsonv_validate((const uint8_t *)k.data.p, k.data.n, 16, &off) == JSONV_OK) {
            cJSON *root = cJSON_ParseWithLength(k.data.p, k.data.n);
            if (root) {
                (void)sio_placeholders_check(root, k.attachments);
                if (sio_placeholders_check(root, 1000)) /* over the 999 a packet may announce */
                    abort();
            }
            cJSON_Delete(root);
        }
    }
    free(p);
    return 0;
}
