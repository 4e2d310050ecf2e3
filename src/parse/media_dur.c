/* deps: none
 *
 * Each reader bounds every read by n and every loop by the input or
 * MEDIA_DUR_MAX_STEPS; arithmetic that could overflow is done in 64 bits
 * with the inputs capped first. */
#include "parse/media_dur.h"

#include <string.h>

#define MEDIA_DUR_MAX_MS (24ull * 3600 * 1000) /* a day: beyond it the container lies */

static uint32_t md_le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t md_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint64_t md_le64(const uint8_t *p) { return md_le32(p) | (uint64_t)md_le32(p + 4) << 32; }

static int md_result(uint64_t ms, enum media_dur_source s, uint64_t *out, enum media_dur_source *src)
{
    if (ms > MEDIA_DUR_MAX_MS)
        return MEDIA_DUR_NONE;
    *out = ms;
    *src = s;
    return MEDIA_DUR_OK;
}

/* ---- RIFF/WAVE ------------------------------------------------------------- */

static int md_wav(const uint8_t *p, size_t n, uint64_t *ms, enum media_dur_source *src)
{
    uint32_t byte_rate = 0;
    for (size_t off = 12, steps = 0; off + 8 <= n && steps < MEDIA_DUR_MAX_STEPS; steps++) {
        uint32_t len = md_le32(p + off + 4);
        const uint8_t *body = p + off + 8;
        size_t avail = n - off - 8;
        if (memcmp(p + off, "fmt ", 4) == 0 && len >= 16 && avail >= 16)
            byte_rate = md_le32(body + 8);
        if (memcmp(p + off, "data", 4) == 0) {
            /* a streamed WAV says 0 or 0xFFFFFFFF: what is there is the audio */
            uint64_t data = len == 0 || len == 0xFFFFFFFFu || len > avail ? avail : len;
            if (!byte_rate)
                return MEDIA_DUR_NONE;
            return md_result(data * 1000 / byte_rate, MEDIA_DUR_WAV, ms, src);
        }
        if (len > avail)
            break;
        off += 8 + (size_t)len + (len & 1); /* chunks are padded to even sizes */
    }
    return MEDIA_DUR_NONE;
}

/* ---- Matroska / WebM (EBML) --------------------------------------------------- */

enum {
    MD_ID_EBML = 0x1A45DFA3,
    MD_ID_SEGMENT = 0x18538067,
    MD_ID_INFO = 0x1549A966,
    MD_ID_TIMECODE_SCALE = 0x2AD7B1,
    MD_ID_DURATION = 0x4489,
    MD_ID_CLUSTER = 0x1F43B675,
    MD_ID_CLUSTER_TIME = 0xE7,
    MD_ID_BLOCK_GROUP = 0xA0,
    MD_ID_BLOCK = 0xA1,
    MD_ID_SIMPLE_BLOCK = 0xA3,
};

/* An EBML variable-length integer at p[0..n): its length (1..8), or 0 when
 * malformed or cut. id: the marker bits kept (element IDs); else removed,
 * and an all-ones value (unknown size) becomes UINT64_MAX. */
static size_t md_vint(const uint8_t *p, size_t n, bool id, uint64_t *v)
{
    if (n == 0 || p[0] == 0)
        return 0;
    size_t len = 1;
    while (!(p[0] & (0x80 >> (len - 1))))
        len++;
    if (len > n || (id && len > 4))
        return 0;
    uint64_t x = id ? p[0] : (p[0] & (0xFFu >> len));
    bool ones = x == (0xFFu >> len);
    for (size_t i = 1; i < len; i++) {
        x = x << 8 | p[i];
        ones = ones && p[i] == 0xFF;
    }
    *v = !id && ones ? UINT64_MAX : x;
    return len;
}

static uint64_t md_be(const uint8_t *p, size_t len)
{
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++)
        x = x << 8 | p[i];
    return x;
}

/* An EBML float (4 or 8 bytes), in whole units, or -1 when not a finite value >= 0. */
static double md_float(const uint8_t *p, size_t len)
{
    double d;
    if (len == 4) {
        uint32_t b = (uint32_t)md_be(p, 4);
        float f;
        memcpy(&f, &b, sizeof f);
        d = f;
    } else if (len == 8) {
        uint64_t b = md_be(p, 8);
        memcpy(&d, &b, sizeof d);
    } else {
        return -1;
    }
    return d >= 0 && d < 1e18 ? d : -1;
}

/* Master elements whose children we walk; any other element is skipped whole. */
static bool md_enter(uint64_t id)
{
    return id == MD_ID_SEGMENT || id == MD_ID_INFO || id == MD_ID_CLUSTER || id == MD_ID_BLOCK_GROUP;
}

struct md_mkv {
    uint64_t scale;      /* ns per timecode unit (TimecodeScale), 1 ms by default */
    double duration;     /* Info Duration in timecode units, -1 none */
    uint64_t cluster;    /* current Cluster Timecode */
    int64_t last_block;  /* greatest block time seen in timecode units, -1 none */
};

/* A leaf element of size len at p (all there). */
static void md_mkv_leaf(struct md_mkv *m, uint64_t id, const uint8_t *p, size_t len)
{
    if (id == MD_ID_TIMECODE_SCALE && len >= 1 && len <= 8) {
        uint64_t s = md_be(p, len);
        m->scale = s ? s : m->scale;
    } else if (id == MD_ID_DURATION) {
        m->duration = md_float(p, len);
    } else if (id == MD_ID_CLUSTER_TIME && len >= 1 && len <= 8) {
        m->cluster = md_be(p, len);
    } else if (id == MD_ID_SIMPLE_BLOCK || id == MD_ID_BLOCK) {
        uint64_t track;
        size_t tl = md_vint(p, len, false, &track);
        if (tl && tl + 2 <= len && m->cluster <= (uint64_t)INT64_MAX / 2) {
            int16_t rel = (int16_t)(uint16_t)(p[tl] << 8 | p[tl + 1]);
            int64_t t = (int64_t)m->cluster + rel;
            if (t > m->last_block)
                m->last_block = t;
        }
    }
}

static int md_mkv_walk(const uint8_t *p, size_t n, uint64_t *ms, enum media_dur_source *src)
{
    struct md_mkv m = {.scale = 1000000, .duration = -1, .last_block = -1};
    size_t off = 0;
    for (unsigned steps = 0; off < n && steps < MEDIA_DUR_MAX_STEPS; steps++) {
        uint64_t id, size;
        size_t il = md_vint(p + off, n - off, true, &id);
        size_t sl = il ? md_vint(p + off + il, n - off - il, false, &size) : 0;
        if (!sl)
            break; /* cut or corrupt: keep what was read */
        off += il + sl;
        if (md_enter(id))
            continue; /* children follow (an unknown size is common here) */
        if (size == UINT64_MAX || size > n - off) {
            if (id == MD_ID_SIMPLE_BLOCK || id == MD_ID_BLOCK) /* a cut last block still has its time */
                md_mkv_leaf(&m, id, p + off, n - off);
            break;
        }
        md_mkv_leaf(&m, id, p + off, (size_t)size);
        off += (size_t)size;
    }
    /* units -> ms: units * scale ns / 1e6, in floating point (scale may be anything) */
    double unit_ms = (double)m.scale / 1e6;
    if (m.duration > 0 && m.duration * unit_ms <= (double)MEDIA_DUR_MAX_MS)
        return md_result((uint64_t)(m.duration * unit_ms + 0.5), MEDIA_DUR_WEBM_DURATION, ms, src);
    if (m.last_block >= 0 && (double)m.last_block * unit_ms <= (double)MEDIA_DUR_MAX_MS)
        return md_result((uint64_t)((double)m.last_block * unit_ms + 0.5), MEDIA_DUR_WEBM_BLOCKS, ms, src);
    return MEDIA_DUR_NONE;
}

/* ---- Ogg ------------------------------------------------------------------------ */

#define MD_OGG_HEADER 27 /* fixed part of a page header */

/* Rate of the first page's codec and the samples to skip (Opus pre-skip); false when unknown. */
static bool md_ogg_codec(const uint8_t *p, size_t n, uint32_t *rate, uint32_t *skip)
{
    if (n < MD_OGG_HEADER)
        return false;
    size_t segs = p[26], body = MD_OGG_HEADER + segs;
    if (body > n)
        return false;
    const uint8_t *b = p + body;
    size_t left = n - body;
    if (left >= 19 && memcmp(b, "OpusHead", 8) == 0) {
        *rate = 48000; /* Opus granules count 48 kHz samples whatever the input rate */
        *skip = md_le16(b + 10);
        return true;
    }
    if (left >= 16 && memcmp(b, "\x01vorbis", 7) == 0) {
        *rate = md_le32(b + 12);
        *skip = 0;
        return *rate != 0;
    }
    return false;
}

static int md_ogg(const uint8_t *p, size_t n, uint64_t *ms, enum media_dur_source *src)
{
    uint32_t rate, skip;
    if (!md_ogg_codec(p, n, &rate, &skip))
        return MEDIA_DUR_NONE;
    /* from the end: the last whole page header with a granule position (not -1) */
    for (size_t i = n - MD_OGG_HEADER + 1, steps = 0; i-- > 0 && steps < n; steps++) {
        if (memcmp(p + i, "OggS", 4) != 0 || p[i + 4] != 0)
            continue;
        uint64_t g = md_le64(p + i + 6);
        if (g == UINT64_MAX)
            continue; /* no packet ends on this page */
        g = g > skip ? g - skip : 0;
        if (g / rate > MEDIA_DUR_MAX_MS / 1000)
            return MEDIA_DUR_NONE;
        return md_result(g * 1000 / rate, MEDIA_DUR_OGG, ms, src);
    }
    return MEDIA_DUR_NONE;
}

int media_dur(const uint8_t *p, size_t n, uint64_t *ms, enum media_dur_source *src)
{
    if (!p)
        return MEDIA_DUR_UNKNOWN;
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0)
        return md_wav(p, n, ms, src);
    if (n >= 4 && md_be(p, 4) == MD_ID_EBML)
        return md_mkv_walk(p, n, ms, src);
    if (n >= 4 && memcmp(p, "OggS", 4) == 0)
        return md_ogg(p, n, ms, src);
    return MEDIA_DUR_UNKNOWN;
}

const char *media_dur_source_name(enum media_dur_source s)
{
    switch (s) {
    case MEDIA_DUR_WAV: return "wav";
    case MEDIA_DUR_WEBM_DURATION: return "webm-duration";
    case MEDIA_DUR_WEBM_BLOCKS: return "webm-blocks";
    case MEDIA_DUR_OGG: return "ogg";
    }
    return "none";
}

#undef MEDIA_DUR_MAX_MS
#undef MD_OGG_HEADER
