/* interview: the backend of an AI mock-interview app, one static binary.
 *
 * This file holds main(), the configuration table and the wiring. Everything
 * else lives in src/ as small modules; the release build is this one
 * translation unit, which includes them below (see README "Architecture"). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cJSON.h>
#include <mbedtls/build_info.h>
#include <mbedtls/x509_crt.h>

#include "parse/cfgval.h"
#include "io/clock.h"
#include "io/guard.h"
#include "io/log.h"
#include "io/metrics.h"
#include "io/rand.h"
#include "io/server.h"
#include "upstream/tls.h"
#include "upstream/jobfetch.h"
#include "upstream/upstream.h"
#include "upstream/redis.h"
#include "io/bus.h"
#include "pipeline/ai.h"
#include "pipeline/session.h"
#include "pipeline/session_redis.h"
#include "pipeline/turn.h"
#include "dialect/coach.h"
#include "dialect/dialect.h"
#include "dialect/sio.h"
#include "dialect/stream.h"

#define INTERVIEW_VERSION "0.1.0"
#define EXIT_CONFIG 2

extern const unsigned char ca_bundle_pem[];
extern const size_t ca_bundle_pem_len;
extern const char ca_bundle_source[];

/* ---- configuration table -------------------------------------------- */

/* Every setting: the server layer's own struct, and the rest here, wired
 * into each layer's configuration below (wire_*). */
struct config {
    struct server_config server;
    char openai_api_key[256]; /* never logged, never echoed */
    char openai_api_key_file[1024];
    char openai_base_url[1024];
    uint64_t openai_allow_insecure_http; /* 1: http:// to a non-loopback host, on purpose */
    char ssl_cert_file[1024];
    char auth_token_file[1024];
    char trusted_proxies[2048];
    char stt_model[64], stt_language[16], stt_prompt[512];
    char chat_model[64];
    double temperature;
    uint64_t max_tokens;
    char system_prompt_file[1024];
    char tts_model[64], tts_voice[64];
    unsigned tts_format; /* enum turn_format */
    uint64_t audio_chunk_bytes;
    uint64_t max_answer_seconds;
    uint64_t history_messages;
    uint64_t upstream_max_inflight, upstream_pool_size, upstream_max_retries;
    uint64_t upstream_connect_timeout_ms, upstream_tls_timeout_ms, upstream_first_byte_timeout_ms;
    uint64_t upstream_idle_timeout_ms, upstream_total_timeout_ms, dns_cache_ms;
    /* job-posting fetch (seed 003 coach, jobfetch.c) */
    char job_url_allowed_hosts[2048];
    uint64_t job_url_max_bytes, job_url_timeout_ms;
    char job_url_test_allow_addresses[512]; /* test-only SSRF escape, "" = off */
    /* seed 003: Socket.IO and the coach (sio.c, coach.c) */
    uint64_t sio_ping_interval_ms, sio_ping_timeout_ms, sio_connect_timeout_ms;
    uint64_t sio_recovery_window_ms, sio_replay_events, sio_replay_bytes;
    uint64_t coach_max_sessions, coach_max_sessions_per_ip, coach_max_posting, coach_max_resume;
    uint64_t coach_max_audio_bytes, coach_max_answer_seconds;
    /* turn detection and barge-in on /ws/ (turn.c, vad.c) */
    unsigned turn_detection; /* 0 client, 1 server_vad */
    double vad_threshold;
    uint64_t vad_prefix_padding_ms, vad_silence_ms, vad_interrupt_response;
    uint64_t transcribe_pause_ms, max_segment_seconds, vad_barge_in_min_ms;
    unsigned incremental_transcription; /* enum turn_incremental */
    unsigned segment_audio_format;      /* 0 mulaw, 1 pcm16 */
    /* resumable /ws/ interviews (session.c) */
    uint64_t session_ttl_ms, session_store_max, session_store_bytes;
    unsigned log_format; /* enum log_format */
    unsigned log_level;  /* enum log_level */
    /* providers (README "Providers"): model parameters, Azure / SDK headers, one service per job */
    unsigned token_limit_param; /* enum cfg_token_param */
    char reasoning_effort[32];
    unsigned stt_response_format; /* enum ai_stt_format */
    char tts_instructions[1024];
    double tts_speed;
    unsigned api_key_header; /* 0 authorization, 1 api-key */
    char openai_org_id[128], openai_project_id[128];
    char svc_base_url[AI_SVC_N][1024]; /* "" = OPENAI_BASE_URL */
    char svc_api_key[AI_SVC_N][256];   /* "" = OPENAI_API_KEY; never logged */
    char svc_api_key_file[AI_SVC_N][1024];
    /* GET /metrics (README "Metrics") */
    unsigned metrics;    /* 0 on, 1 off */
    char metrics_token[ACCESS_TOKEN_MAX + 1]; /* never logged; empty = open like /health */
    char metrics_token_file[1024];
    /* several instances sharing state (redis.c, io/bus.h) */
    char redis_url[1024]; /* secret-bearing: parsed into redis, then wiped */
    char redis_password_file[1024];
    uint64_t redis_timeout_ms;
    char redis_prefix[64];
    struct redis_config redis; /* parsed REDIS_URL; host[0] == 0: no Redis */
    const char *secret_flags[8]; /* secrets given as flags (seen in /proc/PID/cmdline): their env names */
    size_t nsecret_flags;
};

enum cfg_kind { CFG_STR, CFG_UINT, CFG_SIZE, CFG_MS, CFG_ENUM, CFG_HOST, CFG_URL, CFG_FILE, CFG_FLOAT };

struct cfg_opt {
    const char *env;  /* environment variable */
    const char *flag; /* command-line flag, without "--" */
    enum cfg_kind kind;
    size_t off;       /* offset in struct config */
    size_t cap;       /* CFG_STR/HOST/URL/FILE: buffer size */
    uint64_t min, max;
    const char *def;
    const char *help;
    const char *const *words; /* CFG_ENUM */
    unsigned nwords;
    bool secret;      /* never printed, not even in errors */
};

static const char *const cfg_log_formats[] = {"text", "json"};
static const char *const cfg_log_levels[] = {"debug", "info", "warn", "error"};
static const char *const cfg_tts_formats[] = {"mp3", "wav", "pcm"};
static const char *const cfg_turn_detection[] = {"client", "server_vad"};
static const char *const cfg_incremental[] = {"auto", "0", "1"}; /* enum turn_incremental */
static const char *const cfg_segment_audio[] = {"mulaw", "pcm16"};
enum cfg_token_param { CFG_TOKENS_AUTO, CFG_TOKENS_MAX, CFG_TOKENS_COMPLETION };
static const char *const cfg_token_params[] = {"auto", "max_tokens", "max_completion_tokens"};
static const char *const cfg_stt_formats[] = {"auto", "verbose_json", "json"}; /* enum ai_stt_format */
static const char *const cfg_key_headers[] = {"authorization", "api-key"};
static const char *const cfg_on_off[] = {"on", "off"};

#define O(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define K 1024ull
#define SEC 1000ull
static const struct cfg_opt cfg_opts[] = {
    {"HOST", "host", CFG_HOST, O(server.host), 0, 0, "0.0.0.0", "listen address (IPv4/IPv6 literal or localhost)", NULL, 0, false},
    {"PORT", "port", CFG_UINT, O(server.port), 1, 65535, "8000", "listen port", NULL, 0, false},
    {"OPENAI_API_KEY", "openai-api-key", CFG_STR, O(openai_api_key), 0, 0, "", "OpenAI API key (never logged)", NULL, 0, true},
    {"OPENAI_API_KEY_FILE", "openai-api-key-file", CFG_FILE, O(openai_api_key_file), 0, 0, "", "file holding the OpenAI key (container secrets); not with OPENAI_API_KEY", NULL, 0, false},
    {"OPENAI_BASE_URL", "openai-base-url", CFG_URL, O(openai_base_url), 0, 0, "https://api.openai.com/v1", "OpenAI-compatible API base (http:// only to loopback/localhost unless OPENAI_ALLOW_INSECURE_HTTP=1)", NULL, 0, false},
    {"OPENAI_ALLOW_INSECURE_HTTP", "openai-allow-insecure-http", CFG_UINT, O(openai_allow_insecure_http), 0, 1, "0", "1 = allow an http:// OPENAI_BASE_URL to a host that is not loopback (the key then travels in clear)", NULL, 0, false},
    {"SSL_CERT_FILE", "ssl-cert-file", CFG_FILE, O(ssl_cert_file), 0, 0, "", "PEM CA bundle replacing the built-in one", NULL, 0, false},
    {"MAX_CONNECTIONS", "max-connections", CFG_UINT, O(server.max_connections), 1, 1000000, "10000", "open connections; beyond it HTTP 503", NULL, 0, false},
    {"MAX_HEADER_SIZE", "max-header-size", CFG_SIZE, O(server.max_header_size), 1 * K, 64 * K, "8k", "request head bytes; beyond it 431", NULL, 0, false},
    {"MAX_HEADERS", "max-headers", CFG_UINT, O(server.max_headers), 8, HTTPQ_MAX_HEADERS, "50", "request header lines; beyond it 431", NULL, 0, false},
    {"MAX_MESSAGE_SIZE", "max-message-size", CFG_SIZE, O(server.max_message_size), 1 * K, 64 * K * K, "1m", "WebSocket message bytes; beyond it close 1009", NULL, 0, false},
    {"RX_BUFFER_SIZE", "rx-buffer-size", CFG_SIZE, O(server.rx_buffer_size), 4 * K, 1 * K * K, "16k", "per-client receive ring (borrowed while bytes are in flight)", NULL, 0, false},
    {"TX_BUFFER_SIZE", "tx-buffer-size", CFG_SIZE, O(server.tx_buffer_size), 4 * K, 16 * K * K, "64k", "per-client send ring (borrowed while bytes are queued)", NULL, 0, false},
    {"MESSAGE_BUFFERS", "message-buffers", CFG_UINT, O(server.message_buffers), 1, 100000, "64", "shared buffers for fragmented/large messages; when all are busy close 1013", NULL, 0, false},
    {"JSON_MAX_DEPTH", "json-max-depth", CFG_UINT, O(server.json_max_depth), 1, 64, "16", "JSON nesting depth accepted in messages", NULL, 0, false},
    {"HANDSHAKE_TIMEOUT", "handshake-timeout", CFG_MS, O(server.handshake_timeout_ms), 100, 3600 * SEC, "10s", "time to send a complete request head", NULL, 0, false},
    {"IDLE_TIMEOUT", "idle-timeout", CFG_MS, O(server.idle_timeout_ms), 0, 86400 * SEC, "300s", "close a WebSocket with no message for this long (0 = never)", NULL, 0, false},
    {"PING_INTERVAL", "ping-interval", CFG_MS, O(server.ping_interval_ms), 100, 3600 * SEC, "30s", "server ping after this much silence from the client", NULL, 0, false},
    {"PONG_TIMEOUT", "pong-timeout", CFG_MS, O(server.pong_timeout_ms), 100, 3600 * SEC, "20s", "close 1011 when a ping is unanswered this long", NULL, 0, false},
    {"SEND_TIMEOUT", "send-timeout", CFG_MS, O(server.send_timeout_ms), 100, 3600 * SEC, "30s", "drop a client whose send ring makes no progress this long", NULL, 0, false},
    {"CLOSE_TIMEOUT", "close-timeout", CFG_MS, O(server.close_timeout_ms), 100, 600 * SEC, "5s", "wait for the peer's close frame", NULL, 0, false},
    {"SHUTDOWN_TIMEOUT", "shutdown-timeout", CFG_MS, O(server.shutdown_timeout_ms), 0, 600 * SEC, "10s", "drain time after SIGTERM/SIGINT", NULL, 0, false},
    {"OPENAI_STT_MODEL", "openai-stt-model", CFG_STR, O(stt_model), 0, 0, "whisper-1", "speech-to-text model", NULL, 0, false},
    {"OPENAI_STT_LANGUAGE", "openai-stt-language", CFG_STR, O(stt_language), 0, 0, "", "ISO-639-1 language hint for speech-to-text (empty = detect)", NULL, 0, false},
    {"OPENAI_STT_PROMPT", "openai-stt-prompt", CFG_STR, O(stt_prompt), 0, 0, "", "speech-to-text prompt (style/vocabulary hint)", NULL, 0, false},
    {"OPENAI_CHAT_MODEL", "openai-chat-model", CFG_STR, O(chat_model), 0, 0, "gpt-4o-mini", "interviewer model", NULL, 0, false},
    {"OPENAI_TEMPERATURE", "openai-temperature", CFG_FLOAT, O(temperature), 0, 2, "0.7", "interviewer sampling temperature (0..2)", NULL, 0, false},
    {"OPENAI_MAX_TOKENS", "openai-max-tokens", CFG_UINT, O(max_tokens), 1, 4096, "150", "cap on the interviewer's reply length in tokens", NULL, 0, false},
    {"SYSTEM_PROMPT_FILE", "system-prompt-file", CFG_FILE, O(system_prompt_file), 0, 0, "", "file whose text replaces the built-in interviewer prompt", NULL, 0, false},
    {"OPENAI_TTS_MODEL", "openai-tts-model", CFG_STR, O(tts_model), 0, 0, "tts-1", "text-to-speech model", NULL, 0, false},
    {"OPENAI_TTS_VOICE", "openai-tts-voice", CFG_STR, O(tts_voice), 0, 0, "alloy", "text-to-speech voice", NULL, 0, false},
    {"OPENAI_TTS_FORMAT", "openai-tts-format", CFG_ENUM, O(tts_format), 0, 0, "mp3", "mp3 (cut on frame boundaries) or wav/pcm (sent as WAV pieces)", cfg_tts_formats, 3, false},
    {"AUDIO_CHUNK_BYTES", "audio-chunk-bytes", CFG_SIZE, O(audio_chunk_bytes), 1024, 32 * K, "8k", "target size of one binary audio message to the client", NULL, 0, false},
    {"MAX_ANSWER_SECONDS", "max-answer-seconds", CFG_UINT, O(max_answer_seconds), 1, 600, "120", "answer audio kept per turn; past it BUFFER_ERROR", NULL, 0, false},
    {"HISTORY_MESSAGES", "history-messages", CFG_UINT, O(history_messages), 0, 50, "10", "previous messages sent to the interviewer as context", NULL, 0, false},
    {"UPSTREAM_MAX_INFLIGHT", "upstream-max-inflight", CFG_UINT, O(upstream_max_inflight), 1, 100000, "256", "OpenAI requests in flight at once (each client has at most 2)", NULL, 0, false},
    {"UPSTREAM_POOL_SIZE", "upstream-pool-size", CFG_UINT, O(upstream_pool_size), 0, 1024, "16", "idle keep-alive connections to the API kept open", NULL, 0, false},
    {"UPSTREAM_MAX_RETRIES", "upstream-max-retries", CFG_UINT, O(upstream_max_retries), 0, 5, "2", "retries of 408/409/429/5xx and connection failures", NULL, 0, false},
    {"UPSTREAM_CONNECT_TIMEOUT", "upstream-connect-timeout", CFG_MS, O(upstream_connect_timeout_ms), 100, 600 * SEC, "5s", "DNS + TCP connect to the API", NULL, 0, false},
    {"UPSTREAM_TLS_TIMEOUT", "upstream-tls-timeout", CFG_MS, O(upstream_tls_timeout_ms), 100, 600 * SEC, "5s", "TLS handshake with the API", NULL, 0, false},
    {"UPSTREAM_FIRST_BYTE_TIMEOUT", "upstream-first-byte-timeout", CFG_MS, O(upstream_first_byte_timeout_ms), 100, 600 * SEC, "20s", "request sent -> first response byte", NULL, 0, false},
    {"UPSTREAM_IDLE_TIMEOUT", "upstream-idle-timeout", CFG_MS, O(upstream_idle_timeout_ms), 100, 600 * SEC, "15s", "silence between response bytes", NULL, 0, false},
    {"UPSTREAM_TOTAL_TIMEOUT", "upstream-total-timeout", CFG_MS, O(upstream_total_timeout_ms), 100, 3600 * SEC, "60s", "one API call including retries", NULL, 0, false},
    {"DNS_CACHE_TTL", "dns-cache-ttl", CFG_MS, O(dns_cache_ms), 0, 86400 * SEC, "60s", "how long a resolved API address is reused", NULL, 0, false},
    {"ALLOWED_ORIGINS", "allowed-origins", CFG_STR, O(server.allowed_origins), 0, 0, "http://localhost:3000,http://127.0.0.1:3000,http://localhost:3001,http://127.0.0.1:3001", "comma-separated origins that get CORS headers on /api/stream/* and /health, and may open WebSockets from another origin", NULL, 0, false},
    {"ALLOWED_HOSTS", "allowed-hosts", CFG_STR, O(server.allowed_hosts), 0, 0, "", "comma-separated host names WebSockets and /api/stream/* answer to besides IP literals and localhost (DNS rebinding; * = any)", NULL, 0, false},
    {"INTERVIEW_AUTH_TOKEN", "auth-token", CFG_STR, O(server.auth_token), 0, 0, "", "bearer token required on WebSocket upgrades and /api/stream/* (16..255 of A-Z a-z 0-9 . _ ~ + -)", NULL, 0, true},
    {"INTERVIEW_AUTH_TOKEN_FILE", "auth-token-file", CFG_FILE, O(auth_token_file), 0, 0, "", "file holding INTERVIEW_AUTH_TOKEN (one trailing newline ignored)", NULL, 0, false},
    {"TRUSTED_PROXIES", "trusted-proxies", CFG_STR, O(trusted_proxies), 0, 0, "", "comma-separated IPs/CIDRs whose X-Forwarded-For is believed", NULL, 0, false},
    {"WS_MESSAGES_PER_SEC", "ws-messages-per-sec", CFG_UINT, O(server.ws_messages_per_sec), 0, 1000000, "50", "WebSocket data messages per second per connection (0 = no limit)", NULL, 0, false},
    {"WS_MESSAGES_BURST", "ws-messages-burst", CFG_UINT, O(server.ws_messages_burst), 1, 1000000, "100", "messages a connection may send at once above the rate", NULL, 0, false},
    {"WS_BYTES_PER_SEC", "ws-bytes-per-sec", CFG_SIZE, O(server.ws_bytes_per_sec), 0, 1 * K * K * K, "1m", "WebSocket message bytes per second per connection (0 = no limit)", NULL, 0, false},
    {"WS_BYTES_BURST", "ws-bytes-burst", CFG_SIZE, O(server.ws_bytes_burst), 1 * K, 1 * K * K * K, "4m", "bytes a connection may send at once above the rate", NULL, 0, false},
    {"AI_TURNS_PER_MINUTE", "ai-turns-per-minute", CFG_UINT, O(server.ai_turns_per_minute), 0, 100000, "30", "AI requests (turns, transcriptions) per connection per minute, also the burst (0 = no limit)", NULL, 0, false},
    {"RATE_LIMIT_STRIKES", "rate-limit-strikes", CFG_UINT, O(server.rate_limit_strikes), 1, 100000, "10", "refused messages (faster than 1/s) before close 1008", NULL, 0, false},
    {"MAX_WEBSOCKETS_PER_IP", "max-websockets-per-ip", CFG_UINT, O(server.max_websockets_per_ip), 1, 1000000, "256", "open WebSockets per client address; beyond it 429", NULL, 0, false},
    {"MAX_CONNECTIONS_PER_IP", "max-connections-per-ip", CFG_UINT, O(server.max_connections_per_ip), 1, 1000000, "256", "TCP connections per client address (IPv6: per /64), checked at accept; beyond it 429 (a TRUSTED_PROXIES peer is not counted)", NULL, 0, false},
    {"AI_TURNS_PER_MINUTE_PER_IP", "ai-turns-per-minute-per-ip", CFG_UINT, O(server.ai_turns_per_minute_per_ip), 0, 100000, "60", "AI requests per client address per minute across its connections, also the burst (0 = no limit)", NULL, 0, false},
    {"AUTH_FAILURES_PER_MINUTE", "auth-failures-per-minute", CFG_UINT, O(server.auth_failures_per_minute), 0, 100000, "10", "failed credentials per client address per minute before 429 with Retry-After (0 = no limit)", NULL, 0, false},
    /* job-posting fetch (seed 003 coach): see README "Job posting fetch" */
    {"JOB_URL_ALLOWED_HOSTS", "job-url-allowed-hosts", CFG_STR, O(job_url_allowed_hosts), 0, 0, "", "comma-separated job-board hosts postings may be fetched from (exact, case-insensitive; empty = fetching off)", NULL, 0, false},
    {"JOB_URL_MAX_BYTES", "job-url-max-bytes", CFG_SIZE, O(job_url_max_bytes), 1 * K, 16 * K * K, "512k", "job posting page bytes; beyond it JOB_URL_TOO_LARGE", NULL, 0, false},
    {"JOB_URL_TIMEOUT", "job-url-timeout", CFG_MS, O(job_url_timeout_ms), 100, 120 * SEC, "10s", "whole job posting fetch incl. redirects; beyond it JOB_URL_TIMEOUT", NULL, 0, false},
    {"JOB_URL_TEST_ALLOW_ADDRESSES", "job-url-test-allow-addresses", CFG_STR, O(job_url_test_allow_addresses), 0, 0, "", "TESTS ONLY: comma-separated IP addresses the job fetch treats as public (never set in production)", NULL, 0, false},
    {"SIO_PING_INTERVAL", "sio-ping-interval", CFG_MS, O(sio_ping_interval_ms), 100, 3600 * SEC, "25s", "Engine.IO heartbeat: server ping (2) this often", NULL, 0, false},
    {"SIO_PING_TIMEOUT", "sio-ping-timeout", CFG_MS, O(sio_ping_timeout_ms), 100, 3600 * SEC, "20s", "Engine.IO: close when a ping gets no pong (3) this long", NULL, 0, false},
    {"SIO_CONNECT_TIMEOUT", "sio-connect-timeout", CFG_MS, O(sio_connect_timeout_ms), 100, 3600 * SEC, "45s", "Socket.IO: close an Engine.IO connection with no CONNECT this long", NULL, 0, false},
    {"SIO_RECOVERY_WINDOW", "sio-recovery-window", CFG_MS, O(sio_recovery_window_ms), 0, 86400 * SEC, "2m", "a dropped Socket.IO session (and its interview) is kept this long for recovery", NULL, 0, false},
    {"SIO_REPLAY_EVENTS", "sio-replay-events", CFG_UINT, O(sio_replay_events), 1, 100000, "64", "events kept per session for replay after a reconnect", NULL, 0, false},
    {"SIO_REPLAY_BYTES", "sio-replay-bytes", CFG_SIZE, O(sio_replay_bytes), 64 * K, 1024 * K * K, "4m", "bytes (packets + attachments) kept per session for replay", NULL, 0, false},
    {"COACH_MAX_SESSIONS", "coach-max-sessions", CFG_UINT, O(coach_max_sessions), 1, 100000, "100", "Socket.IO sessions (connected or awaiting recovery); at the cap the longest-dropped one is evicted, else CONNECT_ERROR", NULL, 0, false},
    {"COACH_MAX_SESSIONS_PER_IP", "coach-max-sessions-per-ip", CFG_UINT, O(coach_max_sessions_per_ip), 1, 100000, "8", "Socket.IO sessions per client address (IPv6: per /64); at it the address's longest-dropped one is evicted, else CONNECT_ERROR", NULL, 0, false},
    {"COACH_MAX_POSTING", "coach-max-posting", CFG_SIZE, O(coach_max_posting), 1 * K, 1 * K * K, "32k", "job posting text bytes", NULL, 0, false},
    {"COACH_MAX_RESUME", "coach-max-resume", CFG_SIZE, O(coach_max_resume), 1 * K, 1 * K * K, "16k", "resume text bytes", NULL, 0, false},
    {"COACH_MAX_AUDIO_BYTES", "coach-max-audio-bytes", CFG_SIZE, O(coach_max_audio_bytes), 1 * K, 64 * K * K, "1m", "one recorded answer (its binary attachment)", NULL, 0, false},
    {"COACH_MAX_ANSWER_SECONDS", "coach-max-answer-seconds", CFG_UINT, O(coach_max_answer_seconds), 1, 3600, "300", "longest answer the coach analyses (from the transcript's duration)", NULL, 0, false},
    /* turn detection and barge-in: see README "Turn detection and barge-in" */
    {"TURN_DETECTION", "turn-detection", CFG_ENUM, O(turn_detection), 0, 0, "client", "who ends an answer on /ws/: client (send_for_AI_processing) or server_vad (silence)", cfg_turn_detection, 2, false},
    {"VAD_THRESHOLD", "vad-threshold", CFG_FLOAT, O(vad_threshold), 0, 1, "0.5", "voice activity threshold 0..1 (higher needs louder speech)", NULL, 0, false},
    {"VAD_PREFIX_PADDING", "vad-prefix-padding", CFG_MS, O(vad_prefix_padding_ms), 0, TURN_PAD_MAX_MS, "300ms", "audio kept before a detected speech onset", NULL, 0, false},
    {"VAD_SILENCE_DURATION", "vad-silence-duration", CFG_MS, O(vad_silence_ms), TURN_SILENCE_MIN_MS, TURN_SILENCE_MAX_MS, "700ms", "silence after speech that ends it (server_vad: ends the answer)", NULL, 0, false},
    {"VAD_INTERRUPT_RESPONSE", "vad-interrupt-response", CFG_UINT, O(vad_interrupt_response), 0, 1, "1", "server_vad: the candidate's speech interrupts the interviewer (barge-in), 0 or 1", NULL, 0, false},
    {"TRANSCRIBE_PAUSE", "transcribe-pause", CFG_MS, O(transcribe_pause_ms), 100, TURN_SILENCE_MAX_MS, "300ms", "incremental transcription: a pause this long closes a segment", NULL, 0, false},
    {"INCREMENTAL_TRANSCRIPTION", "incremental-transcription", CFG_ENUM, O(incremental_transcription), 0, 0, "auto", "transcribe while the candidate speaks: auto (on with server_vad), 0 or 1", cfg_incremental, 3, false},
    {"SEGMENT_AUDIO_FORMAT", "segment-audio-format", CFG_ENUM, O(segment_audio_format), 0, 0, "mulaw", "with segments or server_vad: speech held and uploaded as mulaw (8-bit G.711, half the memory) or pcm16", cfg_segment_audio, 2, false},
    /* resumable interviews: see README "Resuming an interview" */
    {"SESSION_TTL", "session-ttl", CFG_MS, O(session_ttl_ms), 1 * SEC, 604800 * SEC /* 7 days */, "30m", "a /ws/ interview (client_id of 16+ chars) outlives its connection this long", NULL, 0, false},
    {"SESSION_STORE_MAX", "session-store-max", CFG_UINT, O(session_store_max), 0, 1000000, "10000", "saved interviews kept in memory; at the cap the least recently saved goes (0 = none)", NULL, 0, false},
    {"SESSION_STORE_BYTES", "session-store-bytes", CFG_SIZE, O(session_store_bytes), 64 * K, 64 * K * K * K, "256m", "bytes of saved interviews kept in memory; at the cap the least recently saved go", NULL, 0, false},
    {"MAX_SEGMENT_SECONDS", "max-segment-seconds", CFG_UINT, O(max_segment_seconds), 2, 600, "30", "a segment without a pause is cut at its quietest 100 ms after this long", NULL, 0, false},
    {"VAD_BARGE_IN_MIN", "vad-barge-in-min", CFG_MS, O(vad_barge_in_min_ms), 0, 5 * SEC, "250ms", "speech shorter than this does not interrupt (coughs, clicks)", NULL, 0, false},
    /* metrics: see README "Metrics" */
    {"METRICS", "metrics", CFG_ENUM, O(metrics), 0, 0, "on", "GET /metrics (Prometheus text format): on or off (off: 404)", cfg_on_off, 2, false},
    {"METRICS_TOKEN", "metrics-token", CFG_STR, O(metrics_token), 0, 0, "", "bearer token /metrics requires (Authorization: Bearer; 16..255 of A-Z a-z 0-9 . _ ~ + -); empty = open like /health", NULL, 0, true},
    {"METRICS_TOKEN_FILE", "metrics-token-file", CFG_FILE, O(metrics_token_file), 0, 0, "", "file holding METRICS_TOKEN (one trailing newline ignored)", NULL, 0, false},
    /* several instances: see README "Redis" */
    {"REDIS_URL", "redis-url", CFG_STR, O(redis_url), 0, 0, "", "redis://[[user]:password@]host[:port][/db] or rediss:// (TLS, CA from SSL_CERT_FILE): state shared between instances; unset = single process (never logged)", NULL, 0, true},
    {"REDIS_PASSWORD_FILE", "redis-password-file", CFG_FILE, O(redis_password_file), 0, 0, "", "file holding the Redis password (REDIS_URL then carries none)", NULL, 0, false},
    {"REDIS_TIMEOUT", "redis-timeout", CFG_MS, O(redis_timeout_ms), 10, 60 * SEC, "200ms", "one Redis command; past it the instance goes on with local state", NULL, 0, false},
    {"REDIS_PREFIX", "redis-prefix", CFG_STR, O(redis_prefix), 0, 0, "interview:", "prefix of every Redis key and channel (one Redis, several deployments)", NULL, 0, false},
    {"LOG_FORMAT", "log-format", CFG_ENUM, O(log_format), 0, 0, "text", "text or json", cfg_log_formats, 2, false},
    {"LOG_LEVEL", "log-level", CFG_ENUM, O(log_level), 0, 0, "info", "debug, info, warn or error", cfg_log_levels, 4, false},
    /* providers: see README "Providers" */
    {"OPENAI_TOKEN_LIMIT_PARAM", "openai-token-limit-param", CFG_ENUM, O(token_limit_param), 0, 0, "auto", "name of the reply length limit: auto (max_completion_tokens for api.openai.com, max_tokens elsewhere), max_tokens or max_completion_tokens", cfg_token_params, 3, false},
    {"OPENAI_REASONING_EFFORT", "openai-reasoning-effort", CFG_STR, O(reasoning_effort), 0, 0, "", "reasoning_effort sent to reasoning models (o1, o3, o4, gpt-5...), e.g. minimal or low (empty = not sent)", NULL, 0, false},
    {"OPENAI_STT_RESPONSE_FORMAT", "openai-stt-response-format", CFG_ENUM, O(stt_response_format), 0, 0, "auto", "coach transcriptions: auto (json for gpt-4o*-transcribe, else verbose_json with word timestamps), verbose_json or json", cfg_stt_formats, 3, false},
    {"OPENAI_TTS_INSTRUCTIONS", "openai-tts-instructions", CFG_STR, O(tts_instructions), 0, 0, "", "how the voice speaks (gpt-4o-mini-tts), e.g. \"a warm, professional interviewer\"; not sent to tts-1/tts-1-hd", NULL, 0, false},
    {"OPENAI_TTS_SPEED", "openai-tts-speed", CFG_FLOAT, O(tts_speed), 0, 4, "0", "speech speed 0.25..4 (0 = not sent: the server's default)", NULL, 0, false},
    {"OPENAI_API_KEY_HEADER", "openai-api-key-header", CFG_ENUM, O(api_key_header), 0, 0, "authorization", "how the key is sent: authorization (Bearer) or api-key (Azure OpenAI)", cfg_key_headers, 2, false},
    {"OPENAI_ORG_ID", "openai-org-id", CFG_STR, O(openai_org_id), 0, 0, "", "sent as OpenAI-Organization (as the SDKs do)", NULL, 0, false},
    {"OPENAI_PROJECT_ID", "openai-project-id", CFG_STR, O(openai_project_id), 0, 0, "", "sent as OpenAI-Project (as the SDKs do)", NULL, 0, false},
    {"OPENAI_STT_BASE_URL", "openai-stt-base-url", CFG_STR, O(svc_base_url[AI_SVC_STT]), 0, 0, "", "speech-to-text server (empty = OPENAI_BASE_URL); its own pool, DNS cache and limits", NULL, 0, false},
    {"OPENAI_STT_API_KEY", "openai-stt-api-key", CFG_STR, O(svc_api_key[AI_SVC_STT]), 0, 0, "", "key for OPENAI_STT_BASE_URL (empty = OPENAI_API_KEY)", NULL, 0, true},
    {"OPENAI_STT_API_KEY_FILE", "openai-stt-api-key-file", CFG_FILE, O(svc_api_key_file[AI_SVC_STT]), 0, 0, "", "file holding OPENAI_STT_API_KEY", NULL, 0, false},
    {"OPENAI_CHAT_BASE_URL", "openai-chat-base-url", CFG_STR, O(svc_base_url[AI_SVC_CHAT]), 0, 0, "", "chat server (empty = OPENAI_BASE_URL); its own pool, DNS cache and limits", NULL, 0, false},
    {"OPENAI_CHAT_API_KEY", "openai-chat-api-key", CFG_STR, O(svc_api_key[AI_SVC_CHAT]), 0, 0, "", "key for OPENAI_CHAT_BASE_URL (empty = OPENAI_API_KEY)", NULL, 0, true},
    {"OPENAI_CHAT_API_KEY_FILE", "openai-chat-api-key-file", CFG_FILE, O(svc_api_key_file[AI_SVC_CHAT]), 0, 0, "", "file holding OPENAI_CHAT_API_KEY", NULL, 0, false},
    {"OPENAI_TTS_BASE_URL", "openai-tts-base-url", CFG_STR, O(svc_base_url[AI_SVC_TTS]), 0, 0, "", "text-to-speech server (empty = OPENAI_BASE_URL); its own pool, DNS cache and limits", NULL, 0, false},
    {"OPENAI_TTS_API_KEY", "openai-tts-api-key", CFG_STR, O(svc_api_key[AI_SVC_TTS]), 0, 0, "", "key for OPENAI_TTS_BASE_URL (empty = OPENAI_API_KEY)", NULL, 0, true},
    {"OPENAI_TTS_API_KEY_FILE", "openai-tts-api-key-file", CFG_FILE, O(svc_api_key_file[AI_SVC_TTS]), 0, 0, "", "file holding OPENAI_TTS_API_KEY", NULL, 0, false},
};
#undef O
#undef K
#undef SEC

/* The value is never echoed: a mistyped or misplaced value may be a secret
 * (the key given to the wrong flag), and stderr ends up in logs. */
static void cfg_die(const struct cfg_opt *o, const char *value, const char *why)
{
    fprintf(stderr, "interview: invalid %s (%zu characters, not shown): %s\n", o->env, strlen(value), why);
    exit(EXIT_CONFIG);
}

static void cfg_store_uint(const struct cfg_opt *o, void *dst, uint64_t v)
{
    if (o->cap == sizeof(uint16_t))
        *(uint16_t *)dst = (uint16_t)v;
    else if (o->cap == sizeof(unsigned))
        *(unsigned *)dst = (unsigned)v;
    else
        *(uint64_t *)dst = v;
}

static void cfg_set(struct config *cfg, const struct cfg_opt *o, const char *v)
{
    void *dst = (char *)cfg + o->off;
    uint64_t u;
    char why[160];
    switch (o->kind) {
    case CFG_UINT:
    case CFG_SIZE:
        if (cfgval_uint(v, o->min, o->max, o->kind == CFG_SIZE, &u) != CFGVAL_OK) {
            snprintf(why, sizeof why, "expected %s in %llu..%llu",
                     o->kind == CFG_SIZE ? "a size (bytes, or with k/m/g)" : "a whole number",
                     (unsigned long long)o->min, (unsigned long long)o->max);
            cfg_die(o, v, why);
        }
        cfg_store_uint(o, dst, u);
        return;
    case CFG_MS:
        if (cfgval_duration_ms(v, o->min, o->max, &u) != CFGVAL_OK) {
            snprintf(why, sizeof why, "expected a duration like 500ms, 10s, 5m in %llums..%llums",
                     (unsigned long long)o->min, (unsigned long long)o->max);
            cfg_die(o, v, why);
        }
        cfg_store_uint(o, dst, u);
        return;
    case CFG_ENUM: {
        unsigned idx;
        if (cfgval_enum(v, o->words, o->nwords, &idx) != CFGVAL_OK)
            cfg_die(o, v, o->help);
        cfg_store_uint(o, dst, idx);
        return;
    }
    case CFG_HOST:
        if (cfgval_host(v) != CFGVAL_OK)
            cfg_die(o, v, "expected an IPv4/IPv6 address or localhost");
        break;
    case CFG_URL: {
        struct cfgval_url url;
        if (cfgval_url(v, &url) != CFGVAL_OK)
            cfg_die(o, v, "expected http(s)://host[:port][/prefix]");
        break;
    }
    case CFG_FLOAT: {
        char *end;
        double x = strtod(v, &end);
        if (!*v || *end || !(x >= (double)o->min && x <= (double)o->max)) {
            snprintf(why, sizeof why, "expected a number in %llu..%llu", (unsigned long long)o->min,
                     (unsigned long long)o->max);
            cfg_die(o, v, why);
        }
        *(double *)dst = x;
        return;
    }
    case CFG_FILE:
    case CFG_STR:
        break;
    }
    if (strlen(v) >= o->cap)
        cfg_die(o, v, "too long");
    memcpy(dst, v, strlen(v) + 1);
}

static const struct cfg_opt *cfg_find_flag(const char *name, size_t n)
{
    for (size_t i = 0; i < ARRAY_LEN(cfg_opts); i++)
        if (strlen(cfg_opts[i].flag) == n && memcmp(cfg_opts[i].flag, name, n) == 0)
            return &cfg_opts[i];
    return NULL;
}

static void cfg_usage(FILE *f)
{
    fprintf(f, "usage: interview [--help] [--version] [--healthcheck] [--OPTION VALUE ...]\n\n"
               "Every option is also an environment variable; flags win.\n\n");
    for (size_t i = 0; i < ARRAY_LEN(cfg_opts); i++) {
        const struct cfg_opt *o = &cfg_opts[i];
        fprintf(f, "  --%-20s %-18s %s (default: %s)\n", o->flag, o->env, o->help,
                o->def[0] ? o->def : "unset");
    }
}

enum cfg_action { CFG_RUN, CFG_HEALTHCHECK };

#define CFG_FLAG_SHOWN_MAX 40 /* an unknown flag's name is echoed only if it looks like one */

/* An unknown argument is never echoed whole: "--openai-api-keyy=sk-..." or a
 * key after a flag that takes none would print the secret. Only a flag's
 * name (before '=', plain characters) is shown. */
static _Noreturn void cfg_unknown(int i, const char *a, const char *eq)
{
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    bool plain = strncmp(a, "--", 2) == 0 && n <= CFG_FLAG_SHOWN_MAX && strspn(a + 2, "abcdefghijklmnopqrstuvwxyz0123456789-") >= n - 2;
    if (plain)
        fprintf(stderr, "interview: unknown flag \"%.*s\"%s (see --help)\n", (int)n, a, eq ? " (value not shown)" : "");
    else
        fprintf(stderr, "interview: unknown argument #%d (not shown; see --help)\n", i);
    exit(EXIT_CONFIG);
}

static enum cfg_action cfg_load(struct config *cfg, int argc, char **argv, bool *version)
{
    enum cfg_action act = CFG_RUN;
    for (size_t i = 0; i < ARRAY_LEN(cfg_opts); i++)
        cfg_set(cfg, &cfg_opts[i], cfg_opts[i].def);
    for (size_t i = 0; i < ARRAY_LEN(cfg_opts); i++) {
        const char *v = getenv(cfg_opts[i].env);
        if (v)
            cfg_set(cfg, &cfg_opts[i], v);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cfg_usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            *version = true;
            continue;
        }
        if (strcmp(a, "--healthcheck") == 0) {
            act = CFG_HEALTHCHECK;
            continue;
        }
        const char *eq = strchr(a, '=');
        const struct cfg_opt *o = strncmp(a, "--", 2) == 0
                                      ? cfg_find_flag(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2))
                                      : NULL;
        if (!o)
            cfg_unknown(i, a, eq);
        if (!eq && i + 1 >= argc) {
            fprintf(stderr, "interview: --%s needs a value\n", o->flag);
            exit(EXIT_CONFIG);
        }
        char *v = eq ? argv[i] + (eq - a) + 1 : argv[++i];
        cfg_set(cfg, o, v);
        if (o->secret) {
            /* Other users can read /proc/PID/cmdline: say so at start-up and
             * take the value out of it now. */
            if (cfg->nsecret_flags < ARRAY_LEN(cfg->secret_flags))
                cfg->secret_flags[cfg->nsecret_flags++] = o->env;
            explicit_bzero(v, strlen(v));
        }
    }
    return act;
}

/* Cross-field rules the table cannot express. */
static char cfg_system_prompt[16384] =
    "You are an experienced, friendly job interviewer conducting a spoken mock interview. "
    "Ask one question at a time. Keep every reply to two or three short sentences: react "
    "briefly to the candidate's last answer, then ask a relevant follow-up or the next "
    "question. Your words are spoken aloud, so never use lists, markdown, code or emoji.";

static void cfg_fail(const char *msg)
{
    fprintf(stderr, "interview: %s\n", msg);
    exit(EXIT_CONFIG);
}

/* A job's own server and key (OPENAI_{STT,CHAT,TTS}_*): its variables' prefix. */
static const char *const cfg_svc_env[AI_SVC_N] = {"OPENAI_STT", "OPENAI_CHAT", "OPENAI_TTS"};

static void cfg_fail_svc(int svc, const char *what)
{
    fprintf(stderr, "interview: invalid %s_%s\n", cfg_svc_env[svc], what);
    exit(EXIT_CONFIG);
}

/* A secret from a file: one trailing newline (LF or CRLF) is ignored; the
 * contents never appear in a message. */
static void cfg_read_secret(const char *env, const char *path, char *dst, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(dst, 1, cap - 1, f) : 0;
    bool more = f && fgetc(f) != EOF;
    if (f)
        fclose(f);
    if (n && dst[n - 1] == '\n')
        n--;
    if (n && dst[n - 1] == '\r')
        n--;
    dst[n] = '\0';
    if (!f || more || n == 0 || memchr(dst, '\0', n)) {
        /* The path is not shown either: a key given to the _FILE flag by
         * mistake would be printed. */
        fprintf(stderr, "interview: invalid %s (%zu characters, not shown): unreadable, empty or over %zu bytes\n",
                env, strlen(path), cap - 1);
        exit(EXIT_CONFIG);
    }
}

static bool cfg_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static void cfg_check_access(struct config *cfg)
{
    if (cfg->openai_api_key[0] && cfg->openai_api_key_file[0])
        cfg_fail("set OPENAI_API_KEY or OPENAI_API_KEY_FILE, not both");
    if (cfg->openai_api_key_file[0])
        cfg_read_secret("OPENAI_API_KEY_FILE", cfg->openai_api_key_file, cfg->openai_api_key,
                        sizeof cfg->openai_api_key);
    if (!cfg_printable(cfg->openai_api_key)) /* it goes into a header line */
        cfg_fail("invalid OpenAI API key: must be printable ASCII without spaces");
    for (int i = 0; i < AI_SVC_N; i++) {
        char file_env[64];
        snprintf(file_env, sizeof file_env, "%s_API_KEY_FILE", cfg_svc_env[i]);
        if (cfg->svc_api_key[i][0] && cfg->svc_api_key_file[i][0])
            cfg_fail_svc(i, "API_KEY: set it or _API_KEY_FILE, not both");
        if (cfg->svc_api_key_file[i][0])
            cfg_read_secret(file_env, cfg->svc_api_key_file[i], cfg->svc_api_key[i], sizeof cfg->svc_api_key[i]);
        if (!cfg_printable(cfg->svc_api_key[i]))
            cfg_fail_svc(i, "API_KEY: must be printable ASCII without spaces");
    }
    if (!cfg_printable(cfg->openai_org_id) || !cfg_printable(cfg->openai_project_id) ||
        !cfg_printable(cfg->reasoning_effort))
        cfg_fail("invalid OPENAI_ORG_ID, OPENAI_PROJECT_ID or OPENAI_REASONING_EFFORT: printable ASCII without spaces");
    if (cfg->tts_speed != 0 && cfg->tts_speed < 0.25)
        cfg_fail("invalid OPENAI_TTS_SPEED: 0 (not sent) or 0.25..4");
    char *token = cfg->server.auth_token;
    if (token[0] && cfg->auth_token_file[0])
        cfg_fail("set INTERVIEW_AUTH_TOKEN or INTERVIEW_AUTH_TOKEN_FILE, not both");
    if (cfg->auth_token_file[0])
        cfg_read_secret("INTERVIEW_AUTH_TOKEN_FILE", cfg->auth_token_file, token, sizeof cfg->server.auth_token);
    if (token[0] && !access_token_valid(token, strlen(token)))
        cfg_fail("invalid INTERVIEW_AUTH_TOKEN: expected 16..255 characters of A-Z a-z 0-9 . _ ~ + -");
    char *mtoken = cfg->metrics_token;
    if (mtoken[0] && cfg->metrics_token_file[0])
        cfg_fail("set METRICS_TOKEN or METRICS_TOKEN_FILE, not both");
    if (cfg->metrics_token_file[0])
        cfg_read_secret("METRICS_TOKEN_FILE", cfg->metrics_token_file, mtoken, sizeof cfg->metrics_token);
    if (mtoken[0] && !access_token_valid(mtoken, strlen(mtoken)))
        cfg_fail("invalid METRICS_TOKEN: expected 16..255 characters of A-Z a-z 0-9 . _ ~ + -");
    if (access_cidr_parse(cfg->trusted_proxies, strlen(cfg->trusted_proxies), cfg->server.trusted,
                          ACCESS_CIDR_MAX, &cfg->server.ntrusted) != ACCESS_OK) {
        fprintf(stderr, "interview: invalid TRUSTED_PROXIES (not shown): expected comma-separated IPv4/IPv6 "
                        "addresses or CIDRs (at most %d)\n", ACCESS_CIDR_MAX);
        exit(EXIT_CONFIG);
    }
}

/* Is host (an address literal without brackets, or a name) this machine's
 * loopback: "localhost", 127/8 or ::1? */
static bool cfg_is_loopback(const char *host)
{
    struct access_addr a;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (access_addr_parse(host, strlen(host), &a) != ACCESS_OK)
        return false;
    static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, v6[16] = {[15] = 1};
    return (memcmp(a.b, v4, 12) == 0 && a.b[12] == 127) || memcmp(a.b, v6, 16) == 0;
}

/* The key must not cross a network in clear: http:// only to this machine,
 * unless OPENAI_ALLOW_INSECURE_HTTP=1 says so on purpose (warned at start).
 * The job-fetch SSRF escape is for tests, which listen on loopback. */
static void cfg_check_network(const struct config *cfg)
{
    struct cfgval_url url;
    cfgval_url(cfg->openai_base_url, &url); /* validated at load */
    if (!url.https && !cfg_is_loopback(url.host) && !cfg->openai_allow_insecure_http)
        cfg_fail("invalid OPENAI_BASE_URL: http:// sends the API key in clear; allowed only to localhost or a "
                 "loopback address (or set OPENAI_ALLOW_INSECURE_HTTP=1)");
    for (int i = 0; i < AI_SVC_N; i++) {
        if (!cfg->svc_base_url[i][0])
            continue;
        if (cfgval_url(cfg->svc_base_url[i], &url) != CFGVAL_OK)
            cfg_fail_svc(i, "BASE_URL: expected http(s)://host[:port][/prefix]");
        if (!url.https && !cfg_is_loopback(url.host) && !cfg->openai_allow_insecure_http)
            cfg_fail_svc(i, "BASE_URL: http:// sends the key in clear; allowed only to localhost or a loopback "
                            "address (or set OPENAI_ALLOW_INSECURE_HTTP=1)");
    }
    if (cfg->job_url_test_allow_addresses[0] && !cfg_is_loopback(cfg->server.host))
        cfg_fail("JOB_URL_TEST_ALLOW_ADDRESSES is for tests and works only while HOST is a loopback address");
}

/* Start-up warnings about a configuration that works but exposes something. */
static void cfg_warn(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->nsecret_flags; i++)
        log_event(LOG_WARN, 0, "secret_on_command_line",
                  "%s was given as a flag: other users of this machine may have read it in /proc/PID/cmdline "
                  "before it was wiped; use the %s environment variable or %s_FILE",
                  cfg->secret_flags[i], cfg->secret_flags[i], cfg->secret_flags[i]);
    struct cfgval_url url;
    cfgval_url(cfg->openai_base_url, &url);
    if (!url.https && !cfg_is_loopback(url.host))
        log_event(LOG_WARN, 0, "insecure_http", "OPENAI_BASE_URL is http:// to %s: the API key travels in clear "
                  "(OPENAI_ALLOW_INSECURE_HTTP=1)", url.host);
    for (int i = 0; i < AI_SVC_N; i++)
        if (cfg->svc_base_url[i][0] && cfgval_url(cfg->svc_base_url[i], &url) == CFGVAL_OK && !url.https &&
            !cfg_is_loopback(url.host))
            log_event(LOG_WARN, 0, "insecure_http", "%s_BASE_URL is http:// to %s: its key travels in clear "
                      "(OPENAI_ALLOW_INSECURE_HTTP=1)", cfg_svc_env[i], url.host);
    if (!cfg_is_loopback(cfg->server.host) && !cfg->server.auth_token[0])
        log_event(LOG_WARN, 0, "no_auth_token", "listening on %s without INTERVIEW_AUTH_TOKEN: anyone who can "
                  "reach port %u can start interviews and spend the OpenAI API key", cfg->server.host,
                  (unsigned)cfg->server.port);
}

/* REDIS_URL into cfg->redis (the URL is wiped: it may hold the password),
 * REDIS_PASSWORD_FILE, REDIS_PREFIX. */
static void cfg_check_redis(struct config *cfg)
{
    struct redis_config *rc = &cfg->redis;
    if (!cfg->redis_url[0]) {
        if (cfg->redis_password_file[0])
            cfg_fail("REDIS_PASSWORD_FILE needs REDIS_URL");
        return;
    }
    int rc_url = redis_url_parse(cfg->redis_url, strlen(cfg->redis_url), &rc->url);
    if (rc_url != RURL_OK) {
        fprintf(stderr, "interview: invalid REDIS_URL (not shown): %s\n", redis_url_strerror(rc_url));
        exit(EXIT_CONFIG);
    }
    explicit_bzero(cfg->redis_url, sizeof cfg->redis_url);
    cfg->redis_url[0] = '-'; /* set, value gone */
    if (cfg->redis_password_file[0]) {
        if (rc->url.password[0])
            cfg_fail("set the Redis password in REDIS_URL or REDIS_PASSWORD_FILE, not both");
        cfg_read_secret("REDIS_PASSWORD_FILE", cfg->redis_password_file, rc->url.password,
                        sizeof rc->url.password);
    }
    size_t n = strlen(cfg->redis_prefix);
    if (n >= sizeof rc->prefix || !cfg_printable(cfg->redis_prefix))
        cfg_fail("invalid REDIS_PREFIX: at most 63 printable characters without spaces");
    memcpy(rc->prefix, cfg->redis_prefix, n + 1);
    rc->timeout_ms = cfg->redis_timeout_ms;
}

static void cfg_check(struct config *cfg)
{
    cfg_check_access(cfg);
    cfg_check_redis(cfg);
    cfg_check_network(cfg);
    if (cfg->server.rx_buffer_size <= cfg->server.max_header_size) {
        fprintf(stderr, "interview: invalid RX_BUFFER_SIZE: must exceed MAX_HEADER_SIZE (%llu)\n",
                (unsigned long long)cfg->server.max_header_size);
        exit(EXIT_CONFIG);
    }
    if (cfg->system_prompt_file[0]) {
        FILE *f = fopen(cfg->system_prompt_file, "r");
        size_t n = f ? fread(cfg_system_prompt, 1, sizeof cfg_system_prompt - 1, f) : 0;
        bool more = f && fgetc(f) != EOF;
        if (f)
            fclose(f);
        if (!f || n == 0 || more) {
            fprintf(stderr, "interview: invalid SYSTEM_PROMPT_FILE (not shown): unreadable, empty or over %zu bytes\n",
                    sizeof cfg_system_prompt - 1);
            exit(EXIT_CONFIG);
        }
        cfg_system_prompt[n] = '\0';
    }
    if (cfg->ssl_cert_file[0]) {
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        int r = mbedtls_x509_crt_parse_file(&crt, cfg->ssl_cert_file);
        mbedtls_x509_crt_free(&crt);
        if (r < 0) {
            fprintf(stderr, "interview: invalid SSL_CERT_FILE (not shown): no usable PEM certificate\n");
            exit(EXIT_CONFIG);
        }
    }
}

/* ---- --version and --healthcheck ------------------------------------ */

static int ca_bundle_count(void)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int r = mbedtls_x509_crt_parse(&crt, ca_bundle_pem, ca_bundle_pem_len);
    int n = 0;
    for (const mbedtls_x509_crt *c = &crt; r >= 0 && c && c->raw.len; c = c->next)
        n++;
    mbedtls_x509_crt_free(&crt);
    return n;
}

static void print_version(void)
{
    printf("interview %s\nmbedTLS %s\ncJSON %s\nCA bundle: %s, %d certificates\n",
           INTERVIEW_VERSION, MBEDTLS_VERSION_STRING, cJSON_Version(), ca_bundle_source,
           ca_bundle_count());
}

/* GET /health on our own port; exit status for a container HEALTHCHECK. */
static int healthcheck(const struct config *cfg)
{
    const char *host = cfg->server.host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res;
    char port[8];
    snprintf(port, sizeof port, "%u", cfg->server.port);
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return 1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int ok = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0;
    freeaddrinfo(res);
    static const char req[] = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    char buf[512] = {0};
    ok = ok && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1);
    ok = ok && read(fd, buf, sizeof buf - 1) > 12;
    if (fd >= 0)
        close(fd);
    ok = ok && strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && strstr(buf, "\"healthy\"");
    fprintf(stderr, "healthcheck %s:%s %s\n", host, port, ok ? "ok" : "failed");
    return ok ? 0 : 1;
}

/* The CA certificates every TLS connection (API and job boards) verifies
 * against, named once for the process: SSL_CERT_FILE, else the embedded
 * bundle. Parsed on first use (tls.c). */
static int wire_tls(const struct config *cfg)
{
    char err[256];
    if (tls_ca_use(cfg->ssl_cert_file, ca_bundle_pem, ca_bundle_pem_len, err, sizeof err) != 0) {
        fprintf(stderr, "interview: cannot set up TLS: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- wiring ----------------------------------------------------------- */

extern const unsigned char page_interview_html[], page_stream_test_html[];
extern const size_t page_interview_html_len, page_stream_test_html_len;

/* METRICS_TOKEN, once checked: the /metrics route compares against it. */
static char program_metrics_token[ACCESS_TOKEN_MAX + 1];

/* What each path is: route_match() names it, this table says who serves it. */
static const struct conn_route program_routes[] = {
    {.route = ROUTE_METRICS, .name = "metrics", .render = metrics_render,
     .render_ctype = "text/plain; version=0.0.4; charset=utf-8", .render_token = program_metrics_token},
    {.route = ROUTE_INDEX, .name = "interview page", .page = page_interview_html,
     .page_len = &page_interview_html_len},
    {.route = ROUTE_STREAM_TEST_PAGE, .name = "stream test page", .page = page_stream_test_html,
     .page_len = &page_stream_test_html_len},
    {.route = ROUTE_STREAM_STATUS, .name = "stream status", .api_method = "GET", .api = stream_status},
    {.route = ROUTE_STREAM_DISCONNECT, .name = "stream disconnect", .api_method = "DELETE",
     .api = stream_disconnect},
    {.route = ROUTE_WS_CLIENT, .name = "client", .ws = &dialect_handlers},
    {.route = ROUTE_WS_STREAM, .name = "stream", .ws = &stream_handlers},
    {.route = ROUTE_SIO, .name = "socket.io", .ws = &sio_handlers, .pre_upgrade = sio_handshake_error},
};

/* The running program: the server and the clients and settings of the
 * layers above it. */
struct program {
    struct config cfg;
    struct server srv;
    struct turn_config turn;
    struct up_client *up;         /* the OpenAI client */
    struct up_client *svc[AI_SVC_N]; /* a job's own client (OPENAI_{STT,CHAT,TTS}_BASE_URL/_API_KEY), else NULL */
    struct jobfetch_client *jobs; /* job posting fetch (never NULL once wired; may be disabled) */
    struct ai *ai;                /* the AI calls the pipeline and the dialects make */
    struct redis *redis;          /* NULL without REDIS_URL */
    struct shared_bus bus;        /* over redis, when set */
};

static void program_tick_up(void *ctx) { up_tick(ctx); }

/* A metrics collector: the API client's requests in flight. */
static void program_collect_up(void *ctx)
{
    const struct program *p = ctx;
    struct up_stats st = {0};
    if (p->up)
        up_get_stats(p->up, &st);
    metrics_set(M_UP_INFLIGHT, 0, 0, st.inflight);
}
static void program_tick_jobs(void *ctx) { jobfetch_tick(ctx); }
static void program_tick_sessions(void *ctx)
{
    uint64_t now = clock_mono_ms();
    session_expire(now);
    if (((struct program *)ctx)->redis)
        session_redis_tick(now);
}

/* One API client: the shared settings of base, the endpoint of base_url
 * (validated at load) and its key; its pool swept by the server's tick. */
static struct up_client *wire_api_client(struct program *p, const struct up_config *base, const char *base_url,
                                         const char *api_key, const char *what)
{
    struct cfgval_url url;
    cfgval_url(base_url, &url);
    struct up_config uc = *base;
    uc.https = url.https;
    uc.port = url.port;
    memcpy(uc.host, url.host, sizeof uc.host);
    memcpy(uc.prefix, url.prefix, sizeof uc.prefix);
    uc.api_key = api_key;
    char err[256];
    struct up_client *up = up_create(&p->srv.loop, &uc, err, sizeof err);
    if (!up) {
        fprintf(stderr, "interview: cannot set up the %s client: %s\n", what, err);
        return NULL;
    }
    if (server_add_tick(&p->srv, program_tick_up, up) != 0) {
        up_destroy(up);
        return NULL;
    }
    return up;
}

/* The pipeline's settings and the API clients (one shared, one per service
 * given its own base URL or key), from the configuration. */
static int wire_openai(struct program *p)
{
    const struct config *cfg = &p->cfg;
    p->turn = (struct turn_config){
        .system_prompt = cfg_system_prompt,
        .opening_instruction = "Begin the interview now: greet the candidate in one short sentence "
                               "and ask your first question.",
        .tts_format = (enum turn_format)cfg->tts_format,
        .max_answer_samples = (uint32_t)cfg->max_answer_seconds * 16000u,
        .history_messages = (uint32_t)cfg->history_messages,
        .audio_chunk_bytes = (uint32_t)cfg->audio_chunk_bytes,
        .max_piece_bytes = (uint32_t)CONN_PIECE_MAX(cfg->server.tx_buffer_size),
        .detect = {
            .server_vad = cfg->turn_detection == 1, .threshold = cfg->vad_threshold,
            .prefix_padding_ms = (uint32_t)cfg->vad_prefix_padding_ms, .silence_ms = (uint32_t)cfg->vad_silence_ms,
            .interrupt_response = cfg->vad_interrupt_response != 0,
            .incremental = cfg->incremental_transcription == TURN_INC_AUTO ? cfg->turn_detection == 1
                                                                           : cfg->incremental_transcription == TURN_INC_ON,
        },
        .transcribe_pause_ms = (uint32_t)cfg->transcribe_pause_ms,
        .max_segment_samples = (uint32_t)cfg->max_segment_seconds * 16000u,
        .barge_in_min_ms = (uint32_t)cfg->vad_barge_in_min_ms,
        .incremental = (enum turn_incremental)cfg->incremental_transcription,
        .segment_ulaw = cfg->segment_audio_format == 0,
    };
    const struct up_config uc = { /* CA: wire_tls */
        .key_header_api_key = cfg->api_key_header == 1, .org_id = cfg->openai_org_id,
        .project_id = cfg->openai_project_id,
        .max_inflight = (uint32_t)cfg->upstream_max_inflight, .pool_size = (uint32_t)cfg->upstream_pool_size,
        .max_retries = (uint32_t)cfg->upstream_max_retries,
        .connect_timeout_ms = cfg->upstream_connect_timeout_ms, .tls_timeout_ms = cfg->upstream_tls_timeout_ms,
        .first_byte_timeout_ms = cfg->upstream_first_byte_timeout_ms,
        .idle_timeout_ms = cfg->upstream_idle_timeout_ms, .total_timeout_ms = cfg->upstream_total_timeout_ms,
        .dns_cache_ms = cfg->dns_cache_ms,
    };
    p->up = wire_api_client(p, &uc, cfg->openai_base_url, cfg->openai_api_key, "OpenAI");
    if (!p->up)
        return -1;
    static const char *const names[AI_SVC_N] = {[AI_SVC_STT] = "STT", [AI_SVC_CHAT] = "chat", [AI_SVC_TTS] = "TTS"};
    for (int i = 0; i < AI_SVC_N; i++) {
        if (!cfg->svc_base_url[i][0] && !cfg->svc_api_key[i][0])
            continue; /* served by the shared client */
        p->svc[i] = wire_api_client(p, &uc, cfg->svc_base_url[i][0] ? cfg->svc_base_url[i] : cfg->openai_base_url,
                                    cfg->svc_api_key[i][0] ? cfg->svc_api_key[i] : cfg->openai_api_key, names[i]);
        if (!p->svc[i])
            return -1;
    }
    return 0;
}

/* OPENAI_TOKEN_LIMIT_PARAM resolved: auto is max_completion_tokens for
 * api.openai.com (every current model takes it; gpt-5 and o-series refuse
 * max_tokens) and max_tokens elsewhere (what most compatible servers read). */
static const char *wire_token_param(const struct config *cfg)
{
    if (cfg->token_limit_param != CFG_TOKENS_AUTO)
        return cfg_token_params[cfg->token_limit_param];
    struct cfgval_url url;
    cfgval_url(cfg->svc_base_url[AI_SVC_CHAT][0] ? cfg->svc_base_url[AI_SVC_CHAT] : cfg->openai_base_url, &url);
    return strcasecmp(url.host, "api.openai.com") == 0 ? "max_completion_tokens" : "max_tokens";
}

/* The AI calls (models, voices, the key's presence) over the API client and
 * the job posting fetch. */
static int wire_ai(struct program *p)
{
    const struct config *cfg = &p->cfg;
    struct ai_settings set = {
        .stt_model = cfg->stt_model, .stt_language = cfg->stt_language, .stt_prompt = cfg->stt_prompt,
        .chat_model = cfg->chat_model, .temperature = cfg->temperature, .max_tokens = (unsigned)cfg->max_tokens,
        .tts_model = cfg->tts_model, .tts_voice = cfg->tts_voice, .have_key = cfg->openai_api_key[0] != '\0',
        .stt_format = (enum ai_stt_format)cfg->stt_response_format, .token_param = wire_token_param(cfg),
        .reasoning_effort = cfg->reasoning_effort, .tts_instructions = cfg->tts_instructions,
        .tts_speed = cfg->tts_speed,
    };
    p->ai = ai_create(p->up, p->jobs, &set);
    if (!p->ai) {
        fprintf(stderr, "interview: out of memory\n");
        return -1;
    }
    for (int i = 0; i < AI_SVC_N; i++)
        if (p->svc[i])
            ai_set_service(p->ai, (enum ai_service)i, p->svc[i],
                           cfg->svc_api_key[i][0] != '\0' || cfg->openai_api_key[0] != '\0');
    return 0;
}

/* The job-posting fetch for the coach; disabled (no thread, no TLS) when
 * JOB_URL_ALLOWED_HOSTS is empty. -1 for a bad JOB_URL_* setting or CA file. */
static int wire_jobs(struct program *p)
{
    const struct config *cfg = &p->cfg;
    struct jobfetch_config jc = {
        .allowed_hosts = cfg->job_url_allowed_hosts, .max_bytes = cfg->job_url_max_bytes,
        .timeout_ms = cfg->job_url_timeout_ms, /* CA: wire_tls */
        .test_allow_addresses = cfg->job_url_test_allow_addresses,
    };
    char err[256];
    p->jobs = jobfetch_create(&p->srv.loop, &jc, err, sizeof err);
    if (!p->jobs) {
        fprintf(stderr, "interview: cannot set up the job posting fetch: %s\n", err);
        return -1;
    }
    return server_add_tick(&p->srv, program_tick_jobs, p->jobs);
}

/* The dialects' settings, the route table and their tick. */
static int wire_dialects(struct program *p)
{
    const struct config *cfg = &p->cfg;
    dialect_setup(&p->turn, p->ai);
    if (session_init(&(struct session_config){.ttl_ms = cfg->session_ttl_ms, .max_entries = cfg->session_store_max,
                                              .max_bytes = cfg->session_store_bytes}) != 0 ||
        server_add_tick(&p->srv, program_tick_sessions, p) != 0)
        return -1;
    if (p->redis && session_redis_attach(p->redis, p->bus.instance, cfg->session_ttl_ms) != 0) {
        log_event(LOG_ERROR, 0, "start_failed", "Redis: no subscription left for the session hand-off");
        return -1;
    }
    stream_setup(&p->turn, p->ai);
    sio_setup(&(struct sio_config){
        .app = &coach_app, .ping_interval_ms = cfg->sio_ping_interval_ms, .ping_timeout_ms = cfg->sio_ping_timeout_ms,
        .connect_timeout_ms = cfg->sio_connect_timeout_ms, .recovery_window_ms = cfg->sio_recovery_window_ms,
        .replay_events = cfg->sio_replay_events, .replay_bytes = cfg->sio_replay_bytes,
        .max_sessions = cfg->coach_max_sessions, .max_sessions_per_ip = cfg->coach_max_sessions_per_ip,
        .max_attachment_bytes = cfg->coach_max_audio_bytes,
    });
    coach_setup(&(struct coach_config){
        .ai = p->ai, .max_posting = cfg->coach_max_posting, .max_resume = cfg->coach_max_resume,
        .max_audio_bytes = cfg->coach_max_audio_bytes, .max_answer_seconds = cfg->coach_max_answer_seconds,
    });
    /* METRICS=off: the route is not in the table (404). */
    static struct conn_route routes[ARRAY_LEN(program_routes)];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(program_routes); i++)
        if (program_routes[i].route != ROUTE_METRICS || cfg->metrics == 0)
            routes[n++] = program_routes[i];
    p->srv.routes = routes;
    p->srv.nroutes = n;
    if (p->redis) {
        stream_set_bus(&p->bus);
        guard_set_bus(&p->srv, &p->bus);
        sio_set_bus(&p->bus);
        if (server_add_tick(&p->srv, guard_tick, &p->srv) != 0)
            return -1;
        if (server_add_tick(&p->srv, stream_tick, NULL) != 0)
            return -1;
    }
    return server_add_tick(&p->srv, sio_tick, &p->srv);
}

/* ---- the shared bus (io/bus.h) over the Redis client ---- */

/* A name with the REDIS_PREFIX in front; false when it does not fit. */
static bool program_bus_name(struct redis *r, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", redis_prefix(r), name);
    return n > 0 && (size_t)n < cap;
}

static bool program_bus_up(void *ctx) { return redis_is_up(ctx); }

static bool program_bus_publish(void *ctx, const char *channel, const char *msg, size_t len)
{
    char ch[REDIS_CHANNEL_MAX];
    if (!program_bus_name(ctx, channel, ch, sizeof ch))
        return false;
    const char *argv[3] = {"PUBLISH", ch, msg};
    size_t lens[3] = {7, strlen(ch), len};
    return redis_command(ctx, 3, argv, lens, NULL, NULL) == 0;
}

/* Subscribers: the bus's callback shape behind the client's. */
static struct program_bus_sub {
    bus_message_fn fn;
    void *ud;
} program_bus_subs[REDIS_SUBS_MAX];
static size_t program_bus_nsubs;

static void program_bus_message(void *ud, const char *ch, size_t chlen, const char *msg, size_t len)
{
    const struct program_bus_sub *sub = ud;
    (void)ch, (void)chlen;
    sub->fn(sub->ud, msg, len);
}

static bool program_bus_subscribe(void *ctx, const char *channel, bus_message_fn fn, void *ud)
{
    char ch[REDIS_CHANNEL_MAX];
    if (program_bus_nsubs >= ARRAY_LEN(program_bus_subs) || !program_bus_name(ctx, channel, ch, sizeof ch))
        return false;
    struct program_bus_sub *sub = &program_bus_subs[program_bus_nsubs];
    *sub = (struct program_bus_sub){fn, ud};
    if (redis_subscribe(ctx, ch, program_bus_message, sub) != 0)
        return false;
    program_bus_nsubs++;
    return true;
}

static bool program_bus_on_state(void *ctx, bus_state_fn fn, void *ud) { return redis_on_state(ctx, fn, ud) == 0; }

static bool program_bus_set(void *ctx, const char *key, const char *val, size_t len, uint64_t ttl_ms)
{
    char k[512], ttl[24];
    if (!program_bus_name(ctx, key, k, sizeof k))
        return false;
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)ttl_ms);
    const char *argv[5] = {"SET", k, val, "PX", ttl};
    size_t lens[5] = {3, strlen(k), len, 2, strlen(ttl)};
    return redis_command(ctx, 5, argv, lens, NULL, NULL) == 0;
}

static bool program_bus_del(void *ctx, const char *key)
{
    char k[512];
    if (!program_bus_name(ctx, key, k, sizeof k))
        return false;
    const char *argv[2] = {"DEL", k};
    return redis_command(ctx, 2, argv, NULL, NULL, NULL) == 0;
}

/* An INCRBY waiting for its answer: the bus caller's callback and data.
 * Listed so forget() can find them by the caller's data. */
struct program_bus_count {
    struct program_bus_count *prev, *next;
    bus_count_fn cb;
    void *ud;
    bool gauge; /* the answer is an HGETALL of shares, not an integer */
    bus_value_fn value_cb; /* a GET: the answer is a string */
};
static struct program_bus_count *program_bus_counts;
static char program_bus_instance[BUS_INSTANCE_LEN + 1]; /* the gauge's field: this instance's share */

static uint64_t program_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* HGETALL of a gauge: the other instances' shares ("<count>:<expiry epoch
 * ms>") that have not lapsed, summed. */
static int64_t program_gauge_sum(const struct resp_value *v)
{
    int64_t sum = 0;
    uint64_t now = program_epoch_ms();
    for (uint32_t i = 0; i + 1 < v->count; i += 2) {
        const struct resp_value *field = resp_child(v, i), *val = resp_child(v, i + 1);
        char text[48], *colon, *end;
        if (resp_is(field, program_bus_instance, strlen(program_bus_instance)) || val->type != RESP_BULK ||
            val->len >= sizeof text)
            continue;
        memcpy(text, val->str, val->len);
        text[val->len] = '\0';
        unsigned long long n = strtoull(text, &colon, 10);
        if (*colon != ':')
            continue;
        unsigned long long until = strtoull(colon + 1, &end, 10);
        if (*end == '\0' && until > now && n < UINT32_MAX)
            sum += (int64_t)n;
    }
    return sum;
}

static void program_bus_counted(void *ud, int status, const struct resp_value *v)
{
    struct program_bus_count *pc = ud;
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        program_bus_counts = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    if (pc->value_cb) {
        bool have = status == REDIS_OK && v->type == RESP_BULK;
        if (pc->ud)
            pc->value_cb(pc->ud, have ? v->str : NULL, have ? v->len : 0);
        free(pc);
        return;
    }
    int64_t value = -1;
    if (status == REDIS_OK && pc->gauge && (v->type == RESP_ARRAY || v->type == RESP_MAP))
        value = program_gauge_sum(v);
    else if (status == REDIS_OK && !pc->gauge && v->type == RESP_INT)
        value = v->integer;
    if (pc->cb)
        pc->cb(pc->ud, value);
    free(pc);
}

/* Lists a waiting answer (forget() finds it by ud). */
static void program_bus_wait(struct program_bus_count *pc, bus_count_fn cb, void *ud, bool gauge)
{
    *pc = (struct program_bus_count){NULL, program_bus_counts, cb, ud, gauge, NULL};
    if (program_bus_counts)
        program_bus_counts->prev = pc;
    program_bus_counts = pc;
}

/* INCRBY then PEXPIRE, pipelined: the window is in the key's name, so
 * setting the expiry again on every increment is harmless (and works on
 * every Redis version, unlike PEXPIRE ... NX). */
static bool program_bus_incr(void *ctx, const char *key, int64_t by, uint64_t ttl_ms, bus_count_fn cb, void *ud)
{
    char k[512], n[24], ttl[24];
    if (!program_bus_name(ctx, key, k, sizeof k))
        return false;
    snprintf(n, sizeof n, "%lld", (long long)by);
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)ttl_ms);
    struct program_bus_count *pc = calloc(1, sizeof *pc);
    const char *a1[3] = {"INCRBY", k, n}, *a2[3] = {"PEXPIRE", k, ttl};
    if (!pc || redis_command(ctx, 3, a1, NULL, program_bus_counted, pc) != 0) {
        free(pc);
        return false;
    }
    program_bus_wait(pc, cb, ud, false);
    (void)redis_command(ctx, 3, a2, NULL, NULL, NULL); /* refused only when the queue is full: the next one sets it */
    return true;
}

/* HSET key <instance> "<value>:<expiry>" (HDEL for 0), PEXPIRE, HGETALL:
 * pipelined, the answer of the last one summed. */
static bool program_bus_gauge(void *ctx, const char *key, uint32_t value, uint64_t ttl_ms, bus_count_fn cb, void *ud)
{
    char k[512], share[48], ttl[24];
    if (!program_bus_name(ctx, key, k, sizeof k))
        return false;
    uint64_t until = program_epoch_ms() + ttl_ms;
    snprintf(share, sizeof share, "%u:%llu", value, (unsigned long long)until);
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)ttl_ms);
    const char *set[4] = {"HSET", k, program_bus_instance, share}, *del[3] = {"HDEL", k, program_bus_instance};
    const char *exp[3] = {"PEXPIRE", k, ttl}, *get[2] = {"HGETALL", k};
    struct program_bus_count *pc = calloc(1, sizeof *pc);
    if (!pc)
        return false;
    bool ok = value ? redis_command(ctx, 4, set, NULL, NULL, NULL) == 0 && redis_command(ctx, 3, exp, NULL, NULL, NULL) == 0
                    : redis_command(ctx, 3, del, NULL, NULL, NULL) == 0;
    if (!ok || redis_command(ctx, 2, get, NULL, program_bus_counted, pc) != 0) {
        free(pc);
        return false;
    }
    program_bus_wait(pc, cb, ud, true);
    return true;
}

/* GET: the value, or NULL, to cb. */
static bool program_bus_get(void *ctx, const char *key, bus_value_fn cb, void *ud)
{
    char k[512];
    if (!program_bus_name(ctx, key, k, sizeof k))
        return false;
    const char *argv[2] = {"GET", k};
    struct program_bus_count *pc = calloc(1, sizeof *pc);
    if (!pc || redis_command(ctx, 2, argv, NULL, program_bus_counted, pc) != 0) {
        free(pc);
        return false;
    }
    program_bus_wait(pc, NULL, ud, false);
    pc->value_cb = cb;
    return true;
}

static void program_bus_forget(void *ctx, void *ud)
{
    (void)ctx;
    for (struct program_bus_count *pc = program_bus_counts; pc; pc = pc->next)
        if (pc->ud == ud) {
            pc->cb = NULL;
            pc->ud = NULL; /* a GET's callback is skipped */
        }
}

/* The Redis client and the bus over it, handed to the modules that share
 * state; nothing when REDIS_URL is unset. */
static int wire_redis(struct program *p)
{
    const struct redis_config *rc = &p->cfg.redis;
    const struct redis_url *u = &rc->url;
    if (!u->host[0])
        return 0;
    char err[256];
    p->redis = redis_new(&p->srv.loop, rc, err, sizeof err); /* CA: wire_tls */
    if (!p->redis) {
        fprintf(stderr, "interview: cannot set up the Redis client: %s\n", err);
        return -1;
    }
    log_event(LOG_INFO, 0, "redis", "host=%s port=%u tls=%d db=%u user=%s password=%s timeout_ms=%llu prefix=%s",
              u->host, u->port, u->tls, u->db, u->user[0] ? "set" : "default", u->password[0] ? "set" : "none",
              (unsigned long long)rc->timeout_ms, rc->prefix);
    p->bus = (struct shared_bus){
        .ctx = p->redis, .up = program_bus_up, .publish = program_bus_publish, .subscribe = program_bus_subscribe,
        .on_state = program_bus_on_state, .set = program_bus_set, .get = program_bus_get, .del = program_bus_del, .incr = program_bus_incr,
        .gauge = program_bus_gauge, .forget = program_bus_forget,
    };
    uint8_t id[BUS_INSTANCE_LEN / 2];
    if (rand_bytes(id, sizeof id) != 0) {
        fprintf(stderr, "interview: no randomness for the instance id\n");
        return -1;
    }
    for (size_t i = 0; i < sizeof id; i++)
        snprintf(p->bus.instance + 2 * i, 3, "%02x", id[i]);
    memcpy(program_bus_instance, p->bus.instance, sizeof program_bus_instance);
    return 0;
}

/* The interviews saved at shutdown may still sit in the Redis client's
 * buffer: a few more loop passes (each ends at the next 250 ms tick) until
 * Redis has answered every command, REDIS_TIMEOUT bounding each. */
#define PROGRAM_REDIS_FLUSH_PASSES 4
static void program_flush_redis(struct program *p)
{
    struct redis_stats st;
    for (int i = 0; p->redis && i < PROGRAM_REDIS_FLUSH_PASSES; i++) {
        redis_get_stats(p->redis, &st);
        if (!st.pending || !st.up)
            return;
        p->srv.loop.stop = false;
        loop_run(&p->srv.loop);
    }
}
#undef PROGRAM_REDIS_FLUSH_PASSES

/* Everything from a checked configuration to a listening server. */
static int program_start(struct program *p)
{
    const struct config *cfg = &p->cfg;
    p->srv.cfg = cfg->server;
    /* upstream connections (in flight + pooled), job fetches, the resolver pipes */
    uint32_t clients = 1;
    for (int i = 0; i < AI_SVC_N; i++)
        clients += cfg->svc_base_url[i][0] || cfg->svc_api_key[i][0];
    p->srv.cfg.extra_slots = clients * (uint32_t)(cfg->upstream_max_inflight + cfg->upstream_pool_size + 1) +
                             JOBFETCH_MAX_INFLIGHT + 1 + REDIS_LOOP_SLOTS;
    if (server_init(&p->srv) != 0) {
        log_event(LOG_ERROR, 0, "start_failed", "%s", strerror(errno));
        return -1;
    }
    memcpy(program_metrics_token, cfg->metrics_token, sizeof program_metrics_token);
    metrics_set_build_info(INTERVIEW_VERSION, MBEDTLS_VERSION_STRING, cJSON_Version());
    metrics_add_collector(conn_collect_metrics, &p->srv);
    metrics_add_collector(program_collect_up, p);
    return wire_tls(cfg) == 0 && wire_openai(p) == 0 && wire_jobs(p) == 0 && wire_ai(p) == 0 &&
                   wire_redis(p) == 0 && wire_dialects(p) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct program prog;
    bool version = false;
    /* The API key lives in this process: keep it out of core dumps and ptrace
     * (no core file at all, even where a core pattern pipes dumps elsewhere). */
    prctl(PR_SET_DUMPABLE, 0);
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    enum cfg_action act = cfg_load(&prog.cfg, argc, argv, &version);
    if (version) {
        print_version();
        return 0;
    }
    if (act == CFG_HEALTHCHECK)
        return healthcheck(&prog.cfg);
    cfg_check(&prog.cfg);
    log_setup((enum log_format)prog.cfg.log_format, (enum log_level)prog.cfg.log_level);
    log_event(LOG_INFO, 0, "start", "interview %s mbedTLS %s cJSON %s openai_key=%s",
              INTERVIEW_VERSION, MBEDTLS_VERSION_STRING, cJSON_Version(),
              prog.cfg.openai_api_key[0] ? "set" : "missing");
    cfg_warn(&prog.cfg);
    if (program_start(&prog) != 0)
        return prog.jobs || !prog.up ? 1 : EXIT_CONFIG; /* a bad JOB_URL_* setting is a configuration error */
    /* The API client and the server hold their own copies now. */
    explicit_bzero(prog.cfg.openai_api_key, sizeof prog.cfg.openai_api_key);
    explicit_bzero(prog.cfg.svc_api_key, sizeof prog.cfg.svc_api_key);
    explicit_bzero(prog.cfg.server.auth_token, sizeof prog.cfg.server.auth_token);
    explicit_bzero(prog.cfg.metrics_token, sizeof prog.cfg.metrics_token);
    explicit_bzero(prog.cfg.redis.url.password, sizeof prog.cfg.redis.url.password);
    int rc = server_run(&prog.srv) == 0 ? 0 : 1;
    program_flush_redis(&prog);
    /* Joins the resolver thread, so a clean exit leaves nothing behind
     * (glibc keeps per-thread resolver state that valgrind counts as lost). */
    ai_destroy(prog.ai);
    up_destroy(prog.up);
    for (int i = 0; i < AI_SVC_N; i++)
        up_destroy(prog.svc[i]);
    jobfetch_destroy(prog.jobs);
    prog.jobs = NULL;
    session_redis_detach();
    redis_destroy(prog.redis);
    session_free(); /* what was saved locally dies with this process */
    tls_free(); /* after every TLS client */
    rand_free();
    return rc;
}

/* ---- the rest of the program (unity build) -------------------------- */
#include "src/parse/access.c"
#include "src/parse/addrclass.c"
#include "src/parse/audio.c"
#include "src/parse/b64.c"
#include "src/parse/cfgval.c"
#include "src/parse/fastmsg.c"
#include "src/parse/html_text.c"
#include "src/parse/http_req.c"
#include "src/parse/http_resp.c"
#include "src/parse/jsonv.c"
#include "src/parse/media_dur.c"
#include "src/parse/mp3.c"
#include "src/parse/ratelimit.c"
#include "src/parse/redis_url.c"
#include "src/parse/resp.c"
#include "src/parse/route.c"
#include "src/parse/sentence.c"
#include "src/parse/sio_packet.c"
#include "src/parse/sse.c"
#include "src/parse/url.c"
#include "src/parse/utf8.c"
#include "src/parse/vad.c"
#include "src/parse/ws_frame.c"
#include "src/io/clock.c"
#include "src/io/conn.c"
#include "src/io/guard.c"
#include "src/io/log.c"
#include "src/io/loop.c"
#include "src/io/metrics.c"
#include "src/io/pool.c"
#include "src/io/rand.c"
#include "src/io/ring.c"
#include "src/io/server.c"
#include "src/upstream/jobfetch.c"
#include "src/upstream/redis.c"
#include "src/upstream/resolver.c"
#include "src/upstream/tls.c"
#include "src/upstream/upstream.c"
#include "src/pipeline/oai.c"
#include "src/pipeline/ai.c"
#include "src/pipeline/turn.c"
#include "src/pipeline/answer.c"
#include "src/pipeline/session.c"
#include "src/pipeline/session_redis.c"
#include "src/dialect/message.c"
#include "src/dialect/coach.c"
#include "src/dialect/dialect.c"
#include "src/dialect/sio.c"
#include "src/dialect/stream.c"
