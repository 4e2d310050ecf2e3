/* deps: none; sio_placeholders_check: cJSON */
#include "parse/sio_packet.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

static bool sio_is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Reads 1..max digits at p[*i], no leading zero unless the number is 0
 * and zero_ok. Returns the value, or -1. */
static long long sio_number(const uint8_t *p, size_t n, size_t *i, unsigned max, bool zero_ok)
{
    size_t start = *i;
    long long v = 0;
    while (*i < n && sio_is_digit(p[*i])) {
        if (*i - start >= max)
            return -1;
        v = v * 10 + (p[*i] - '0');
        (*i)++;
    }
    size_t len = *i - start;
    if (len == 0 || (len > 1 && p[start] == '0') || (v == 0 && !zero_ok))
        return -1;
    return v;
}

/* First byte of the JSON payload (or none) must suit the packet type. */
static bool sio_payload_fits(int type, struct slice d)
{
    char c = d.n ? d.p[0] : 0;
    switch (type) {
    case SIO_CONNECT:
        return d.n == 0 || c == '{';
    case SIO_DISCONNECT:
        return d.n == 0;
    case SIO_CONNECT_ERROR:
        return c == '{' || c == '"';
    default: /* EVENT, ACK and their binary forms */
        return c == '[';
    }
}

static int sio_parse_nsp(const uint8_t *p, size_t n, size_t *i, struct sio_packet *out)
{
    out->nsp = (struct slice){"/", 1};
    if (*i >= n || p[*i] != '/')
        return SIO_OK;
    size_t start = *i;
    while (*i < n && p[*i] != ',') {
        if (p[*i] < 0x20 || p[*i] == 0x7F || *i - start >= SIO_NSP_MAX)
            return SIO_E_NSP;
        (*i)++;
    }
    out->nsp = (struct slice){(const char *)p + start, *i - start};
    if (*i < n)
        (*i)++; /* the ',' */
    return SIO_OK;
}

static int sio_parse_message(const uint8_t *p, size_t n, uint32_t max_attach, struct sio_packet *out)
{
    size_t i = 1;
    if (i >= n || p[i] < '0' || p[i] > '6')
        return SIO_E_SIO_TYPE;
    out->type = (int8_t)(p[i++] - '0');
    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
        long long a = sio_number(p, n, &i, SIO_ATTACH_DIGITS, false);
        if (a < 1 || (uint64_t)a > max_attach || i >= n || p[i] != '-')
            return SIO_E_ATTACH;
        out->attachments = (uint32_t)a;
        i++;
    }
    int r = sio_parse_nsp(p, n, &i, out);
    if (r != SIO_OK)
        return r;
    if (i < n && sio_is_digit(p[i])) {
        long long id = sio_number(p, n, &i, SIO_ID_DIGITS, true);
        if (id < 0)
            return SIO_E_ID;
        out->has_id = true;
        out->id = (uint32_t)id;
    }
    out->data = (struct slice){(const char *)p + i, n - i};
    bool ack = out->type == SIO_ACK || out->type == SIO_BINARY_ACK;
    if (!sio_payload_fits(out->type, out->data) || (ack && !out->has_id) ||
        ((out->type == SIO_CONNECT || out->type == SIO_DISCONNECT || out->type == SIO_CONNECT_ERROR) &&
         out->has_id))
        return SIO_E_PAYLOAD;
    return SIO_OK;
}

int sio_parse(const uint8_t *p, size_t n, uint32_t max_attach, struct sio_packet *out)
{
    *out = (struct sio_packet){.type = -1, .nsp = {"/", 1}};
    if (n == 0)
        return SIO_E_EMPTY;
    if (p[0] < '0' || p[0] > '6')
        return SIO_E_EIO_TYPE;
    out->eio = (uint8_t)(p[0] - '0');
    if (out->eio != EIO_MESSAGE) {
        out->data = (struct slice){(const char *)p + 1, n - 1};
        return SIO_OK;
    }
    return sio_parse_message(p, n, max_attach, out);
}

int sio_rx_text(struct sio_rx *rx, const struct sio_packet *pkt)
{
    if (rx->state == SIO_RX_ATTACH)
        return SIO_E_UNEXPECTED_TEXT;
    if (pkt->eio == EIO_MESSAGE && pkt->attachments > 0) {
        rx->state = SIO_RX_ATTACH;
        rx->want = pkt->attachments;
        rx->got = 0;
        rx->bytes = 0;
        rx->over = false;
    }
    return SIO_OK;
}

int sio_rx_binary(struct sio_rx *rx, size_t n, uint32_t *idx, bool *last)
{
    if (rx->state != SIO_RX_ATTACH)
        return SIO_E_UNEXPECTED_BINARY;
    rx->over |= n > rx->max_bytes - rx->bytes;
    if (!rx->over)
        rx->bytes += n;
    *idx = rx->got++;
    *last = rx->got == rx->want;
    if (*last)
        rx->state = SIO_RX_IDLE;
    return rx->over ? SIO_E_ATTACH_SIZE : SIO_OK;
}

bool sio_rx_pending(const struct sio_rx *rx) { return rx->state == SIO_RX_ATTACH; }

int sio_encode_head(char *out, size_t cap, enum sio_type type, uint32_t attachments,
                    const char *nsp, long long id)
{
    char att[16] = "", ids[24] = "";
    bool main_nsp = !nsp || strcmp(nsp, "/") == 0;
    if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK)
        snprintf(att, sizeof att, "%u-", attachments);
    if (id >= 0)
        snprintf(ids, sizeof ids, "%lld", id);
    int n = snprintf(out, cap, "4%d%s%s%s%s", (int)type, att, main_nsp ? "" : nsp, main_nsp ? "" : ",", ids);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

const char *sio_strerror(int r)
{
    switch (r) {
    case SIO_OK: return "ok";
    case SIO_E_EMPTY: return "empty packet";
    case SIO_E_EIO_TYPE: return "unknown Engine.IO packet type";
    case SIO_E_SIO_TYPE: return "unknown Socket.IO packet type";
    case SIO_E_ATTACH: return "bad attachment count";
    case SIO_E_NSP: return "bad namespace";
    case SIO_E_ID: return "bad ack id";
    case SIO_E_PAYLOAD: return "payload does not fit the packet type";
    case SIO_E_UNEXPECTED_TEXT: return "text packet while binary attachments are due";
    case SIO_E_UNEXPECTED_BINARY: return "binary message with no attachment due";
    case SIO_E_ATTACH_SIZE: return "attachments too large";
    default: return "unknown error";
    }
}

static bool sio_ph_walk(const cJSON *node, uint32_t n, uint8_t *seen, uint32_t *count)
{
    if (cJSON_IsObject(node) && cJSON_GetObjectItemCaseSensitive(node, "_placeholder")) {
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(node, "_placeholder");
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(node, "num");
        int keys = cJSON_GetArraySize(node);
        if (keys != 2 || !cJSON_IsTrue(ph) || !cJSON_IsNumber(num))
            return false;
        double v = num->valuedouble;
        if (!(v >= 0 && v < (double)n) || v != (double)(uint32_t)v)
            return false;
        uint32_t k = (uint32_t)v;
        if (seen[k / 8] & (1u << (k % 8)))
            return false;
        seen[k / 8] |= (uint8_t)(1u << (k % 8));
        (*count)++;
        return true;
    }
    for (const cJSON *ch = node ? node->child : NULL; ch; ch = ch->next)
        if (!sio_ph_walk(ch, n, seen, count))
            return false;
    return true;
}

bool sio_placeholders_check(const struct cJSON *root, uint32_t n)
{
    uint8_t seen[(999 + 8) / 8] = {0};
    uint32_t count = 0;
    if (n > 999)
        return false;
    return sio_ph_walk(root, n, seen, &count) && count == n;
}
