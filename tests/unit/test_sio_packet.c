// deps: src/parse/sio_packet.c
// libs: cjson
#include "parse/sio_packet.h"
#include "t.h"

#include <cJSON.h>

static int parse(const char *s, struct sio_packet *p) { return sio_parse((const uint8_t *)s, strlen(s), 4, p); }

static bool sl(struct slice a, const char *lit) { return slice_eq(a, lit, strlen(lit)); }

static void test_engine(void)
{
    struct sio_packet p;
    CHECK(parse("", &p) == SIO_E_EMPTY);
    CHECK(parse("3", &p) == SIO_OK && p.eio == EIO_PONG && p.type == -1 && p.data.n == 0);
    CHECK(parse("2probe", &p) == SIO_OK && p.eio == EIO_PING && sl(p.data, "probe"));
    CHECK(parse("7", &p) == SIO_E_EIO_TYPE);
    CHECK(parse("b4AAA", &p) == SIO_E_EIO_TYPE); /* v3 base64 binary framing is not v4 over WebSocket */
    CHECK(parse("4", &p) == SIO_E_SIO_TYPE);
    CHECK(parse("47", &p) == SIO_E_SIO_TYPE);
}

static void test_socketio(void)
{
    struct sio_packet p;
    CHECK(parse("40", &p) == SIO_OK && p.type == SIO_CONNECT && sl(p.nsp, "/") && p.data.n == 0);
    CHECK(parse("40{\"pid\":\"x\",\"offset\":\"3\"}", &p) == SIO_OK && p.data.p[0] == '{');
    CHECK(parse("40/admin,", &p) == SIO_OK && sl(p.nsp, "/admin"));
    CHECK(parse("40/admin", &p) == SIO_OK && sl(p.nsp, "/admin"));
    CHECK(parse("40/admin,{}", &p) == SIO_OK && sl(p.nsp, "/admin") && sl(p.data, "{}"));
    CHECK(parse("40[1]", &p) == SIO_E_PAYLOAD);
    CHECK(parse("41", &p) == SIO_OK && p.type == SIO_DISCONNECT);
    CHECK(parse("41{}", &p) == SIO_E_PAYLOAD);
    CHECK(parse("42[\"a\",1]", &p) == SIO_OK && p.type == SIO_EVENT && !p.has_id && sl(p.data, "[\"a\",1]"));
    CHECK(parse("4212[\"a\"]", &p) == SIO_OK && p.has_id && p.id == 12);
    CHECK(parse("42/x,7[\"a\"]", &p) == SIO_OK && sl(p.nsp, "/x") && p.id == 7);
    CHECK(parse("42", &p) == SIO_E_PAYLOAD);
    CHECK(parse("42{\"a\":1}", &p) == SIO_E_PAYLOAD);
    CHECK(parse("4201[\"a\"]", &p) == SIO_E_ID);
    CHECK(parse("421234567890[\"a\"]", &p) == SIO_E_ID);
    CHECK(parse("43[]", &p) == SIO_E_PAYLOAD); /* ACK needs an id */
    CHECK(parse("435[]", &p) == SIO_OK && p.type == SIO_ACK && p.id == 5);
    CHECK(parse("44{\"message\":\"x\"}", &p) == SIO_OK && p.type == SIO_CONNECT_ERROR);
    CHECK(parse("44\"x\"", &p) == SIO_OK);
    CHECK(parse("451-[\"a\",{\"_placeholder\":true,\"num\":0}]", &p) == SIO_OK && p.attachments == 1);
    CHECK(parse("454-[\"a\"]", &p) == SIO_OK && p.attachments == 4);
    CHECK(parse("455-[\"a\"]", &p) == SIO_E_ATTACH); /* over max 4 */
    CHECK(parse("450-[\"a\"]", &p) == SIO_E_ATTACH);
    CHECK(parse("4501-[\"a\"]", &p) == SIO_E_ATTACH);
    CHECK(parse("451[\"a\"]", &p) == SIO_E_ATTACH);
    CHECK(parse("45-[\"a\"]", &p) == SIO_E_ATTACH);
    CHECK(parse("461-3[]", &p) == SIO_OK && p.type == SIO_BINARY_ACK && p.id == 3);
    char longnsp[300] = "40/";
    memset(longnsp + 3, 'a', 200);
    CHECK(parse(longnsp, &p) == SIO_E_NSP);
    CHECK(parse("40/a\x01,", &p) == SIO_E_NSP);
}

static void test_rx(void)
{
    struct sio_rx rx = {.max_bytes = 10};
    struct sio_packet p;
    uint32_t idx;
    bool last;
    CHECK(sio_rx_binary(&rx, 1, &idx, &last) == SIO_E_UNEXPECTED_BINARY);
    CHECK(parse("452-[\"a\"]", &p) == SIO_OK && sio_rx_text(&rx, &p) == SIO_OK && sio_rx_pending(&rx));
    CHECK(sio_rx_text(&rx, &p) == SIO_E_UNEXPECTED_TEXT);
    CHECK(sio_rx_binary(&rx, 4, &idx, &last) == SIO_OK && idx == 0 && !last);
    CHECK(sio_rx_binary(&rx, 6, &idx, &last) == SIO_OK && idx == 1 && last && !sio_rx_pending(&rx));
    CHECK(parse("451-[\"a\"]", &p) == SIO_OK && sio_rx_text(&rx, &p) == SIO_OK);
    CHECK(sio_rx_binary(&rx, 11, &idx, &last) == SIO_E_ATTACH_SIZE && last && !sio_rx_pending(&rx));
    CHECK(parse("453-[\"a\"]", &p) == SIO_OK && sio_rx_text(&rx, &p) == SIO_OK);
    CHECK(sio_rx_binary(&rx, 6, &idx, &last) == SIO_OK && !last);
    CHECK(sio_rx_binary(&rx, 5, &idx, &last) == SIO_E_ATTACH_SIZE && idx == 1 && !last && sio_rx_pending(&rx));
    CHECK(sio_rx_binary(&rx, 0, &idx, &last) == SIO_E_ATTACH_SIZE && idx == 2 && last && !sio_rx_pending(&rx));
    CHECK(sio_rx_text(&rx, &p) == SIO_OK && sio_rx_binary(&rx, 10, &idx, &last) == SIO_OK); /* over is per packet */
}

static void test_encode(void)
{
    char b[64];
    CHECK(sio_encode_head(b, sizeof b, SIO_EVENT, 0, NULL, -1) == 2 && strcmp(b, "42") == 0);
    CHECK(sio_encode_head(b, sizeof b, SIO_BINARY_EVENT, 1, "/", -1) > 0 && strcmp(b, "451-") == 0);
    CHECK(sio_encode_head(b, sizeof b, SIO_CONNECT_ERROR, 0, "/admin", -1) > 0 && strcmp(b, "44/admin,") == 0);
    CHECK(sio_encode_head(b, sizeof b, SIO_ACK, 0, NULL, 17) > 0 && strcmp(b, "4317") == 0);
    CHECK(sio_encode_head(b, 3, SIO_ACK, 0, NULL, 17) == -1);
}

static bool ph(const char *json, uint32_t n)
{
    cJSON *r = cJSON_Parse(json);
    bool ok = r && sio_placeholders_check(r, n);
    cJSON_Delete(r);
    return ok;
}

static void test_placeholders(void)
{
    CHECK(ph("[\"a\",{\"q\":\"1\",\"b\":{\"_placeholder\":true,\"num\":0}}]", 1));
    CHECK(!ph("[\"a\",{\"b\":{\"_placeholder\":true,\"num\":0}}]", 2));
    CHECK(!ph("[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]", 2));
    CHECK(ph("[\"a\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]", 2));
    CHECK(!ph("[\"a\",{\"_placeholder\":true,\"num\":1}]", 1));
    CHECK(!ph("[\"a\",{\"_placeholder\":true,\"num\":0.5}]", 1));
    CHECK(!ph("[\"a\",{\"_placeholder\":1,\"num\":0}]", 1));
    CHECK(!ph("[\"a\",{\"_placeholder\":true,\"num\":0,\"x\":1}]", 1));
    CHECK(ph("[\"a\",{\"x\":1}]", 0));
    CHECK(!ph("[\"a\",{\"_placeholder\":true,\"num\":0}]", 0));
}

int main(void)
{
    test_engine();
    test_socketio();
    test_rx();
    test_encode();
    test_placeholders();
    return T_DONE();
}
