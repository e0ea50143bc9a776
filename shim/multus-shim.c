/*
 * multus-shim (native): the CNI plugin the container runtime execs in thick mode.
 *
 * What defines it: the daemon's socket API (docs/reference.md, section 8) towards the daemon, and CNI
 * towards the runtime: exit codes and the CNI error object (section 6.2). It sends one CNI request, the
 * CNI_* variables and stdin, to `<socketDir>/multus.sock` as `POST /cni {"env": {...}, "config":
 * "<base64 of stdin>"}` and answers the runtime:
 *   - 200: the daemon's `Result` as it sent it (nothing for null), exit 0;
 *   - 400: the body, the daemon's own CNI error, exit 1;
 *   - no daemon, or any other status: code 11 ("try again later") for every command, DEL included, so
 *     the runtime retries instead of forgetting an attachment; the message names the socket and says
 *     what went wrong in words (no errno numbers);
 *   - an answer that is not HTTP/1.x, or not a UTF-8 JSON `{"Result": ...}`: code 6.
 * An ADD that finds no daemon, or one that answers 503 (its caches are still syncing), waits up to
 * `daemonWaitSeconds` (default 10) for the daemon's /readyz, polling every 100 ms, and is then sent once
 * more. VERSION is answered here, as the daemon answers it, so it works while no daemon runs.
 *
 * Settings (socketDir, daemonWaitSeconds, cniVersion) come from stdin when it is a JSON object (RFC
 * 8259, UTF-8), else the defaults hold. Every error this shim makes up is `{"cniVersion", "code",
 * "msg"[, "details"]}` in the config's cniVersion, and valid UTF-8 JSON whatever the input: bytes that
 * are not UTF-8 are shown as U+FFFD, except in the environment sent to the daemon, where each is the
 * surrogate escape \udc80-\udcff, as Python's os.environ reads it: the daemon gets what the Python
 * shim sends.
 *
 * The stdlib Python shim (multus/shim/multus_shim.py) answers the same things; the tests compare the two
 * as parsed JSON, not byte for byte (this one writes non-ASCII text as UTF-8 and prints `Result` as
 * the daemon wrote it). Where Python's json module reads more than RFC 8259 (NaN and Infinity, a UTF-8 BOM,
 * encoded surrogates), this shim reads less: such a config gets the defaults, such an answer code 6;
 * a config nested deeper than Python's recursion limit is read here, where Python takes the defaults. A
 * lone surrogate escape (JSON "\ud800") in a config's socketDir or cniVersion is shown as U+FFFD.
 *
 * Libc only, statically linked. Memory is not freed: this is a one-shot process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET_DIR "/run/multus"
#define DEFAULT_WAIT_SECONDS 10.0
#define DEFAULT_CNI_VERSION "1.1.0"
#define READY_TIMEOUT_SECONDS 2.0
#define REQUEST_TIMEOUT_SECONDS 300.0 /* above the daemon's own limits: it decides when a plugin hangs */
#define POLL_INTERVAL_NS 100000000L   /* 100 ms between two /readyz polls */
#define MAX_REPLY_BYTES ((size_t)256 << 20)
#define TRY_AGAIN_LATER 11
#define DECODE_FAILURE 6
#define NOT_READY 503 /* the daemon's answer to an ADD while its caches are still syncing */
#define RETRY "; the runtime will retry" /* ends every code-11 message: the runtime shows it to people */

/* What the product speaks (multus/cni/versions.py); the last one is the default. */
static const char *const SUPPORTED_VERSIONS[] = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

static const char *const CNI_VARIABLES[] = {
    "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH",
};

/* ---------------------------------------------------------------------------------------------- */
/* growable byte buffers                                                                          */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void write_all(int fd, const char *data, size_t len);

static _Noreturn void out_of_memory(void) {
    static const char reply[] =
        "{\"cniVersion\": \"" DEFAULT_CNI_VERSION "\", \"code\": 5, \"msg\": \"multus-shim: out of memory\"}\n";
    write_all(1, reply, sizeof reply - 1);
    _exit(1);
}

static void buf_reserve(buf_t *b, size_t extra) {
    if (extra > SIZE_MAX / 2 - b->len) {
        out_of_memory();
    }
    size_t need = b->len + extra + 1; /* always room for a terminating NUL */
    if (need <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        out_of_memory();
    }
    b->data = data;
    b->cap = cap;
}

static void buf_add(buf_t *b, const void *data, size_t len) {
    buf_reserve(b, len);
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_char(buf_t *b, char c) { buf_add(b, &c, 1); }

static void buf_fmt(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_fmt(buf_t *b, const char *fmt, ...) {
    char small[256];
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(small, sizeof small, fmt, args);
    va_end(args);
    if (len < 0) {
        return;
    }
    if ((size_t)len < sizeof small) {
        buf_add(b, small, (size_t)len);
        return;
    }
    buf_reserve(b, (size_t)len);
    va_start(args, fmt);
    vsnprintf(b->data + b->len, (size_t)len + 1, fmt, args);
    va_end(args);
    b->len += (size_t)len;
}

/* ---------------------------------------------------------------------------------------------- */
/* I/O that survives EINTR and partial transfers                                                   */

static void write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t done = write(fd, data, len);
        if (done < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* nobody to tell: stdout is where errors go */
        }
        data += done;
        len -= (size_t)done;
    }
}

static int read_all(int fd, buf_t *into) {
    for (;;) {
        buf_reserve(into, 65536);
        ssize_t got = read(fd, into->data + into->len, into->cap - into->len - 1);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (got == 0) {
            into->data[into->len] = '\0';
            return 0;
        }
        into->len += (size_t)got;
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_poll_interval(void) {
    struct timespec left = {0, POLL_INTERVAL_NS};
    while (nanosleep(&left, &left) < 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* UTF-8, and JSON strings written so that the output is always valid JSON                         */

/*
 * The length of the well-formed UTF-8 sequence at `s` (`n` bytes left). Or 0, with *bad set to the
 * length of its maximal ill-formed subpart (what one U+FFFD replaces). Encoded surrogates are not UTF-8.
 */
static size_t utf8_length(const unsigned char *s, size_t n, size_t *bad) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        return 1;
    }
    if (c < 0xC2 || c > 0xF4) {
        *bad = 1;
        return 0;
    }
    size_t need = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    if (c == 0xE0) {
        lo = 0xA0;
    } else if (c == 0xED) {
        hi = 0x9F;
    } else if (c == 0xF0) {
        lo = 0x90;
    } else if (c == 0xF4) {
        hi = 0x8F;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF)) {
            *bad = i;
            return 0;
        }
    }
    return need + 1;
}

/* The code point `cp` in UTF-8; a lone surrogate (a JSON "\ud800") in its 3-byte form. */
static void utf8_put(buf_t *b, uint32_t cp) {
    char out[4];
    if (cp < 0x80) {
        out[0] = (char)cp;
        buf_add(b, out, 1);
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, out, 2);
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, out, 3);
    } else {
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, out, 4);
    }
}

enum undecodable {
    AS_REPLACEMENT,     /* U+FFFD per ill-formed subpart */
    AS_SURROGATEESCAPE, /* "\udc80".."\udcff" per byte: how Python's os.environ reads such bytes */
};

/* A JSON string literal (quotes included) of the bytes `s`: UTF-8 as it is, `"`, `\` and control
 * characters escaped, and bytes that are not UTF-8 as `mode` says. */
static void json_string(buf_t *b, const char *s, size_t n, enum undecodable mode) {
    const unsigned char *u = (const unsigned char *)s;
    buf_char(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t bad = 0;
        size_t used = utf8_length(u + i, n - i, &bad);
        if (used == 1 && (u[i] == '"' || u[i] == '\\')) {
            buf_char(b, '\\');
            buf_char(b, (char)u[i]);
        } else if (used == 1 && u[i] < 0x20) {
            buf_fmt(b, "\\u%04x", u[i]);
        } else if (used > 0) {
            buf_add(b, s + i, used);
        } else if (mode == AS_REPLACEMENT) {
            buf_str(b, "\xEF\xBF\xBD");
        } else {
            for (size_t k = 0; k < bad; k++) {
                buf_fmt(b, "\\udc%02x", u[i + k]);
            }
        }
        i += used > 0 ? used : bad;
    }
    buf_char(b, '"');
}

/* ---------------------------------------------------------------------------------------------- */
/* a JSON scanner (RFC 8259, UTF-8): validates everything, decodes only what is asked for          */

typedef struct {
    const unsigned char *s;
    size_t n, i;
} scan_t;

static void skip_ws(scan_t *sc) {
    while (sc->i < sc->n) {
        unsigned char c = sc->s[sc->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        sc->i++;
    }
}

static int take(scan_t *sc, char c) {
    if (sc->i < sc->n && sc->s[sc->i] == (unsigned char)c) {
        sc->i++;
        return 1;
    }
    return 0;
}

static int take_word(scan_t *sc, const char *word) {
    size_t len = strlen(word);
    if (sc->n - sc->i >= len && memcmp(sc->s + sc->i, word, len) == 0) {
        sc->i += len;
        return 1;
    }
    return 0;
}

static int hex4(scan_t *sc, uint32_t *out) {
    uint32_t value = 0;
    if (sc->n - sc->i < 4) {
        return 0;
    }
    for (int k = 0; k < 4; k++) {
        unsigned char c = sc->s[sc->i + (size_t)k];
        unsigned digit;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else {
            return 0;
        }
        value = value << 4 | digit;
    }
    sc->i += 4;
    *out = value;
    return 1;
}

/* A string at sc->i (at its opening quote); its text goes to `out` (when not NULL) as UTF-8. */
static int scan_string(scan_t *sc, buf_t *out) {
    if (!take(sc, '"')) {
        return 0;
    }
    for (;;) {
        if (sc->i >= sc->n) {
            return 0;
        }
        unsigned char c = sc->s[sc->i];
        if (c == '"') {
            sc->i++;
            return 1;
        }
        if (c < 0x20) {
            return 0; /* control characters must be escaped (json's strict mode) */
        }
        if (c == '\\') {
            sc->i++;
            if (sc->i >= sc->n) {
                return 0;
            }
            unsigned char e = sc->s[sc->i++];
            uint32_t cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (!hex4(sc, &cp)) {
                    return 0;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF && sc->n - sc->i >= 6 && sc->s[sc->i] == '\\' &&
                    sc->s[sc->i + 1] == 'u') {
                    scan_t ahead = *sc;
                    uint32_t low;
                    ahead.i += 2;
                    if (hex4(&ahead, &low) && low >= 0xDC00 && low <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        sc->i = ahead.i;
                    }
                }
                break;
            default: return 0;
            }
            if (out != NULL) {
                utf8_put(out, cp);
            }
            continue;
        }
        size_t bad;
        size_t used = utf8_length(sc->s + sc->i, sc->n - sc->i, &bad);
        if (used == 0) {
            return 0;
        }
        if (out != NULL) {
            buf_add(out, sc->s + sc->i, used);
        }
        sc->i += used;
    }
}

static int scan_digits(scan_t *sc) {
    size_t start = sc->i;
    while (sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9') {
        sc->i++;
    }
    return sc->i > start;
}

static int scan_number(scan_t *sc) {
    take(sc, '-');
    if (!take(sc, '0') && !(sc->i < sc->n && sc->s[sc->i] >= '1' && sc->s[sc->i] <= '9' && scan_digits(sc))) {
        return 0;
    }
    size_t mark = sc->i;
    if (take(sc, '.') && !scan_digits(sc)) {
        sc->i = mark; /* "1." is the number 1 followed by garbage, which the caller refuses */
    }
    mark = sc->i;
    if (sc->i < sc->n && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
        sc->i++;
        if (!take(sc, '+')) {
            take(sc, '-');
        }
        if (!scan_digits(sc)) {
            sc->i = mark;
        }
    }
    return 1;
}

static int scan_scalar(scan_t *sc) {
    if (sc->i >= sc->n) {
        return 0;
    }
    switch (sc->s[sc->i]) {
    case '"': return scan_string(sc, NULL);
    case 't': return take_word(sc, "true");
    case 'f': return take_word(sc, "false");
    case 'n': return take_word(sc, "null");
    default: return scan_number(sc);
    }
}

/* Any JSON value at sc->i, nested as deep as it likes: containers are followed with a stack of their
 * kinds ('{' or '['), never by recursion, so hostile nesting cannot overflow the C stack. */
static int scan_value(scan_t *sc) {
    buf_t stack = {0};
    int ok = 0;
    for (;;) {
        skip_ws(sc);
        if (take(sc, '{')) {
            skip_ws(sc);
            if (!take(sc, '}')) {
                buf_char(&stack, '{');
                if (!scan_string(sc, NULL)) {
                    goto done;
                }
                skip_ws(sc);
                if (!take(sc, ':')) {
                    goto done;
                }
                continue;
            }
        } else if (take(sc, '[')) {
            skip_ws(sc);
            if (!take(sc, ']')) {
                buf_char(&stack, '[');
                continue;
            }
        } else if (!scan_scalar(sc)) {
            goto done;
        }
        /* A value ended: close containers until one continues with a comma. */
        for (;;) {
            if (stack.len == 0) {
                ok = 1;
                goto done;
            }
            char open = stack.data[stack.len - 1];
            skip_ws(sc);
            if (take(sc, ',')) {
                if (open == '{') {
                    skip_ws(sc);
                    if (!scan_string(sc, NULL)) {
                        goto done;
                    }
                    skip_ws(sc);
                    if (!take(sc, ':')) {
                        goto done;
                    }
                }
                break;
            }
            if (!take(sc, open == '{' ? '}' : ']')) {
                goto done;
            }
            stack.len--;
        }
    }
done:
    free(stack.data);
    return ok;
}

typedef struct {
    const char *name;
    int found;
    size_t start, end; /* the value's bytes in the document */
} member_t;

/*
 * Whether `s` is one JSON document whose top level is an object; each of `members` gets the span of its
 * key's value (the last one when a key is repeated).
 */
static int scan_object(const char *s, size_t n, member_t *members, size_t count) {
    scan_t sc = {(const unsigned char *)s, n, 0};
    skip_ws(&sc);
    size_t start = sc.i;
    if (!scan_value(&sc)) {
        return 0;
    }
    skip_ws(&sc);
    if (sc.i != sc.n || sc.s[start] != '{') {
        return 0;
    }
    /* Valid: walk the top-level members again, now decoding the keys. */
    buf_t key = {0};
    sc.i = start + 1;
    skip_ws(&sc);
    while (sc.s[sc.i] != '}') {
        key.len = 0;
        scan_string(&sc, &key);
        buf_char(&key, '\0');
        skip_ws(&sc);
        take(&sc, ':');
        skip_ws(&sc);
        size_t value = sc.i;
        scan_value(&sc);
        for (size_t k = 0; k < count; k++) {
            if (key.len - 1 == strlen(members[k].name) && memcmp(key.data, members[k].name, key.len) == 0) {
                members[k].found = 1;
                members[k].start = value;
                members[k].end = sc.i;
            }
        }
        skip_ws(&sc);
        take(&sc, ',');
        skip_ws(&sc);
    }
    free(key.data);
    return 1;
}

/* The text of the string value `m`, or NULL when it is absent or not a string. */
static const char *member_string(const char *doc, const member_t *m, size_t *len) {
    if (!m->found || doc[m->start] != '"') {
        return NULL;
    }
    buf_t text = {0};
    scan_t sc = {(const unsigned char *)doc, m->end, m->start};
    buf_reserve(&text, 0);
    scan_string(&sc, &text);
    *len = text.len;
    return text.data;
}

/* ---------------------------------------------------------------------------------------------- */
/* settings from the CNI config                                                                    */

typedef struct {
    char *socket_path; /* may hold NUL bytes: one that starts with NUL is an abstract socket */
    size_t socket_path_len;
    double wait;
    const char *cni_version;
    size_t cni_version_len;
} settings_t;

static settings_t read_settings(const char *stdin_data, size_t stdin_len) {
    member_t members[] = {{"socketDir", 0, 0, 0}, {"daemonWaitSeconds", 0, 0, 0}, {"cniVersion", 0, 0, 0}};
    settings_t settings = {0};
    int object = scan_object(stdin_data, stdin_len, members, 3);
    size_t len = 0;
    const char *dir = object ? member_string(stdin_data, &members[0], &len) : NULL;
    buf_t path = {0};
    if (dir == NULL || len == 0) {
        buf_str(&path, DEFAULT_SOCKET_DIR);
    } else {
        buf_add(&path, dir, len);
    }
    if (path.data[path.len - 1] != '/') { /* os.path.join */
        buf_char(&path, '/');
    }
    buf_str(&path, "multus.sock");
    settings.socket_path = path.data;
    settings.socket_path_len = path.len;

    settings.wait = DEFAULT_WAIT_SECONDS;
    const member_t *wait = &members[1];
    char first = object && wait->found ? stdin_data[wait->start] : '\0';
    if (first == '-' || (first >= '0' && first <= '9')) { /* a number, which a delimiter ends */
        double value = strtod(stdin_data + wait->start, NULL);
        if (isfinite(value)) { /* beyond a double: the default */
            settings.wait = value;
        }
    }

    const char *version = object ? member_string(stdin_data, &members[2], &len) : NULL;
    if (version == NULL || len == 0) {
        version = DEFAULT_CNI_VERSION;
        len = strlen(version);
    }
    settings.cni_version = version;
    settings.cni_version_len = len;
    return settings;
}

/* ---------------------------------------------------------------------------------------------- */
/* one HTTP/1.1 exchange over the unix socket                                                     */

typedef struct {
    int status;        /* 0: no usable answer; see failure */
    int malformed;     /* the peer answered, but not in HTTP */
    int unreachable;   /* no connection: nothing was sent */
    buf_t failure;     /* what went wrong, in words */
    const char *body;  /* into raw */
    size_t body_len;
    buf_t raw;
} reply_t;

/* A socket error in words (the Python shim's REASONS table says the same); others as strerror says. */
static void fail_errno(reply_t *reply, int err) {
    reply->failure.len = 0;
    switch (err) {
    case ENOENT:
    case ENOTDIR: buf_str(&reply->failure, "the socket does not exist"); break;
    case ECONNREFUSED: buf_str(&reply->failure, "connection refused"); break;
    case EACCES:
    case EPERM: buf_str(&reply->failure, "permission denied"); break;
    case ECONNRESET: buf_str(&reply->failure, "connection reset"); break;
    case EPIPE: buf_str(&reply->failure, "the connection was closed"); break;
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EAGAIN: buf_str(&reply->failure, "timed out"); break;
    default: buf_str(&reply->failure, strerror(err)); break;
    }
}

static int connect_unix(const settings_t *settings, double timeout, reply_t *reply) {
    struct sockaddr_un addr;
    socklen_t addr_len;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = settings->socket_path_len;
    /* a name starting with NUL is abstract and may fill sun_path; others need room for a NUL */
    if (len > sizeof addr.sun_path || (settings->socket_path[0] != '\0' && len >= sizeof addr.sun_path)) {
        buf_str(&reply->failure, "AF_UNIX path too long");
        return -1;
    }
    memcpy(addr.sun_path, settings->socket_path, len);
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (settings->socket_path[0] != '\0'));

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_errno(reply, errno);
        return -1;
    }
    struct timeval tv;
    tv.tv_sec = (time_t)timeout;
    tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (connect(fd, (struct sockaddr *)&addr, addr_len) < 0) {
        if (errno == EINTR) {
            continue;
        }
        if (errno == EISCONN) {
            break; /* an interrupted connect that completed meanwhile */
        }
        fail_errno(reply, errno);
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *data, size_t len, reply_t *reply) {
    while (len > 0) {
        ssize_t done = send(fd, data, len, MSG_NOSIGNAL);
        if (done < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail_errno(reply, errno);
            return -1;
        }
        data += done;
        len -= (size_t)done;
    }
    return 0;
}

static int ascii_lower_eq(const char *a, size_t a_len, const char *b) {
    size_t b_len = strlen(b);
    if (a_len != b_len) {
        return 0;
    }
    for (size_t i = 0; i < a_len; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != b[i]) {
            return 0;
        }
    }
    return 1;
}

static void trim(const char **s, size_t *len) {
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r')) {
        (*len)--;
    }
}

/* The line at *pos (up to "\n" or the end), without its line break; advances *pos. */
static const char *next_line(const buf_t *raw, size_t *pos, size_t *len, int *complete) {
    const char *start = raw->data + *pos;
    const char *nl = memchr(start, '\n', raw->len - *pos);
    size_t span = nl ? (size_t)(nl - start) : raw->len - *pos;
    *pos += span + (nl != NULL);
    *complete = nl != NULL;
    *len = span > 0 && start[span - 1] == '\r' ? span - 1 : span;
    return start;
}

/* Decodes a chunked body: a size line (hex, extensions after ';' ignored) ending at "\n" or, with
 * `eof`, at the end; the data; two bytes that end it, whatever they are. 1 when the last chunk was
 * seen, 0 when more is needed, -1 when it is not chunked encoding. */
static int dechunk(const char *in, size_t in_len, int eof, buf_t *out) {
    size_t pos = 0;
    out->len = 0;
    buf_reserve(out, 0);
    for (;;) {
        const char *nl = memchr(in + pos, '\n', in_len - pos);
        if (nl == NULL && !eof) {
            return 0;
        }
        const char *line = in + pos, *line_end = nl ? nl : in + in_len;
        const char *semicolon = memchr(line, ';', (size_t)(line_end - line));
        if (semicolon != NULL) {
            line_end = semicolon;
        }
        size_t len = (size_t)(line_end - line);
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) {
            len--;
        }
        if (len == 0) {
            return -1;
        }
        size_t size = 0;
        for (size_t k = 0; k < len; k++) {
            char c = line[k];
            int v = (c >= '0' && c <= '9')   ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
            if (v < 0 || size > (SIZE_MAX >> 5)) {
                return -1;
            }
            size = size * 16 + (size_t)v;
        }
        pos = nl ? (size_t)(nl - in) + 1 : in_len;
        if (size == 0) {
            return 1; /* trailers are of no interest */
        }
        if (in_len - pos < size + 2) {
            return eof ? -1 : 0;
        }
        buf_add(out, in + pos, size);
        pos += size + 2;
    }
}

/*
 * Parses what arrived. Returns 1 when the answer is complete (status and body set), 0 when more bytes
 * are needed, -1 when it is not HTTP. With `eof`, whatever is there is the whole answer.
 */
static int parse_reply(reply_t *reply, int eof) {
    buf_t *raw = &reply->raw;
    size_t pos = 0, len;
    int complete;
    int status = 0;
    for (;;) { /* "100 Continue" answers are skipped */
        if (pos >= raw->len) {
            return eof ? -1 : 0;
        }
        const char *line = next_line(raw, &pos, &len, &complete);
        if (!complete && !eof) {
            return 0;
        }
        const char *sp = memchr(line, ' ', len);
        if (sp == NULL || sp - line < 7 || memcmp(line, "HTTP/1.", 7) != 0) {
            return -1;
        }
        if (line + len - sp < 4 || (line + len - sp > 4 && sp[4] != ' ')) {
            return -1;
        }
        status = 0;
        for (int k = 1; k <= 3; k++) {
            if (sp[k] < '0' || sp[k] > '9') {
                return -1;
            }
            status = status * 10 + (sp[k] - '0');
        }
        if (status < 100) {
            return -1;
        }
        long content_length = -1;
        int chunked = 0, headers_done = 0, seen_length = 0, seen_encoding = 0; /* the first one counts */
        while (pos < raw->len) {
            line = next_line(raw, &pos, &len, &complete);
            if (!complete && !eof) {
                return 0;
            }
            if (len == 0) {
                headers_done = 1;
                break;
            }
            const char *colon = memchr(line, ':', len);
            if (colon == NULL) {
                continue;
            }
            const char *value = colon + 1;
            size_t value_len = len - (size_t)(value - line);
            trim(&value, &value_len);
            if (!seen_length && ascii_lower_eq(line, (size_t)(colon - line), "content-length")) {
                seen_length = 1;
                char *end;
                char number[32];
                if (value_len > 0 && value_len < sizeof number) {
                    memcpy(number, value, value_len);
                    number[value_len] = '\0';
                    long parsed = strtol(number, &end, 10);
                    if (*end == '\0' && parsed >= 0) {
                        content_length = parsed;
                    }
                }
            } else if (!seen_encoding && ascii_lower_eq(line, (size_t)(colon - line), "transfer-encoding")) {
                seen_encoding = 1;
                chunked = ascii_lower_eq(value, value_len, "chunked");
            }
        }
        if (!headers_done && !eof) {
            return 0;
        }
        if (status == 100) {
            continue;
        }
        const char *body = raw->data + pos;
        size_t body_len = raw->len - pos;
        if (chunked) {
            static buf_t decoded;
            int state = dechunk(body, body_len, eof, &decoded);
            if (state < 0 || (state == 0 && eof)) {
                return -1;
            }
            if (state == 0) {
                return 0;
            }
            body = decoded.data;
            body_len = decoded.len;
        } else if (status == 204 || status == 304 || status < 200) {
            body_len = 0; /* no body, whatever Content-Length says */
        } else if (content_length >= 0) {
            if (body_len < (size_t)content_length) {
                return eof ? -1 : 0;
            }
            body_len = (size_t)content_length;
        } else if (!eof) {
            return 0; /* the body runs to the end of the connection */
        }
        reply->status = status;
        reply->body = body;
        reply->body_len = body_len;
        return 1;
    }
}

/* One request; on return reply->status is the HTTP status, or 0 with reply->failure saying why. */
static void http_request(const settings_t *settings, const char *method, const char *url, const buf_t *body,
                         double timeout, reply_t *reply) {
    memset(reply, 0, sizeof *reply);
    buf_reserve(&reply->failure, 0);
    int fd = connect_unix(settings, timeout, reply);
    if (fd < 0) {
        reply->unreachable = 1;
        return;
    }
    buf_t request = {0};
    buf_fmt(&request, "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\n", method, url);
    if (body != NULL) {
        buf_fmt(&request, "Content-Length: %zu\r\nContent-Type: application/json\r\n", body->len);
    }
    buf_str(&request, "Connection: close\r\n\r\n");
    if (body != NULL) {
        buf_add(&request, body->data, body->len);
    }
    int sent = send_all(fd, request.data, request.len, reply);
    free(request.data);
    if (sent < 0) {
        close(fd);
        return;
    }
    for (;;) {
        buf_reserve(&reply->raw, 65536);
        ssize_t got = recv(fd, reply->raw.data + reply->raw.len, reply->raw.cap - reply->raw.len - 1, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail_errno(reply, errno);
            break;
        }
        reply->raw.len += (size_t)got;
        reply->raw.data[reply->raw.len] = '\0';
        int eof = got == 0;
        if (eof && reply->raw.len == 0) {
            buf_str(&reply->failure, "the daemon closed the connection without an answer");
            break;
        }
        int state = parse_reply(reply, eof);
        if (state < 0 || reply->raw.len > MAX_REPLY_BYTES) {
            reply->status = 0;
            reply->malformed = 1;
            buf_str(&reply->failure, "the answer is not HTTP/1.x or is cut short");
            break;
        }
        if (state > 0) {
            break;
        }
    }
    close(fd);
}

/* ---------------------------------------------------------------------------------------------- */
/* the shim                                                                                       */

static settings_t settings;

/* Prints the CNI error `msg` (with `details` when there are any) in the config's cniVersion; exit 1. */
static _Noreturn void fail(int code, const buf_t *msg, const char *details, size_t details_len) {
    buf_t out = {0};
    buf_str(&out, "{\"cniVersion\": ");
    json_string(&out, settings.cni_version, settings.cni_version_len, AS_REPLACEMENT);
    buf_fmt(&out, ", \"code\": %d, \"msg\": ", code);
    json_string(&out, msg->data, msg->len, AS_REPLACEMENT);
    if (details_len > 0) {
        buf_str(&out, ", \"details\": ");
        json_string(&out, details, details_len, AS_REPLACEMENT);
    }
    buf_str(&out, "}\n");
    write_all(1, out.data, out.len);
    exit(1);
}

/* `prefix`, the socket path, `suffix`: how each message about the daemon names it. */
static buf_t about_socket(const char *prefix, const char *suffix) {
    buf_t text = {0};
    buf_str(&text, prefix);
    buf_add(&text, settings.socket_path, settings.socket_path_len);
    buf_str(&text, suffix);
    return text;
}

/* The code-11 answer when the daemon could not be asked: what went wrong, and that the runtime retries. */
static _Noreturn void fail_later(const char *prefix, const char *suffix, const buf_t *reason) {
    buf_t msg = about_socket(prefix, suffix);
    buf_add(&msg, reason->data, reason->len);
    buf_str(&msg, RETRY);
    fail(TRY_AGAIN_LATER, &msg, NULL, 0);
}

static void wait_until_ready(void) {
    double deadline = now_seconds() + settings.wait;
    buf_t last = {0};
    buf_str(&last, "no answer");
    for (;;) {
        reply_t reply;
        http_request(&settings, "GET", "/readyz", NULL, READY_TIMEOUT_SECONDS, &reply);
        if (reply.status == 200) {
            return;
        }
        last.len = 0;
        if (reply.status != 0) {
            buf_fmt(&last, "/readyz answered %d", reply.status);
        } else if (reply.malformed) {
            buf_str(&last, "the answer is not HTTP");
        } else {
            buf_add(&last, reply.failure.data, reply.failure.len);
        }
        if (now_seconds() >= deadline) {
            buf_t suffix = {0};
            buf_fmt(&suffix, " is not ready after %gs: ", settings.wait);
            fail_later("multus daemon at ", suffix.data, &last);
        }
        sleep_poll_interval();
    }
}

/* VERSION, as the daemon answers it: in the config's cniVersion when we speak it, else in the latest. */
static _Noreturn void answer_version(void) {
    size_t count = sizeof SUPPORTED_VERSIONS / sizeof SUPPORTED_VERSIONS[0];
    const char *version = SUPPORTED_VERSIONS[count - 1];
    buf_t out = {0};
    for (size_t k = 0; k < count; k++) {
        if (settings.cni_version_len == strlen(SUPPORTED_VERSIONS[k]) &&
            memcmp(settings.cni_version, SUPPORTED_VERSIONS[k], settings.cni_version_len) == 0) {
            version = SUPPORTED_VERSIONS[k];
        }
    }
    buf_fmt(&out, "{\"cniVersion\": \"%s\", \"supportedVersions\": [", version);
    for (size_t k = 0; k < count; k++) {
        buf_fmt(&out, "%s\"%s\"", k ? ", " : "", SUPPORTED_VERSIONS[k]);
    }
    buf_str(&out, "]}\n");
    write_all(1, out.data, out.len);
    exit(0);
}

static void base64_encode(buf_t *out, const unsigned char *s, size_t n) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf_reserve(out, (n + 2) / 3 * 4);
    char *w = out->data + out->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[v >> 12 & 63];
        *w++ = alphabet[v >> 6 & 63];
        *w++ = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[v >> 12 & 63];
        *w++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        *w++ = '=';
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
}

#ifndef MULTUS_VERSION
#define MULTUS_VERSION "unknown"
#endif

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        puts("multus-shim " MULTUS_VERSION " (native)");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN); /* a daemon that hangs up is an error to report, not a reason to die */
    buf_t input = {0};
    buf_reserve(&input, 0);
    if (read_all(0, &input) < 0) {
        input.len = 0; /* nothing usable: the defaults, and the daemon says what is wrong */
    }
    settings = read_settings(input.data, input.len);

    const char *command = getenv("CNI_COMMAND");
    int adding = command != NULL && strcmp(command, "ADD") == 0;
    if (command != NULL && strcmp(command, "VERSION") == 0) {
        answer_version();
    }

    buf_t body = {0};
    buf_str(&body, "{\"env\": {");
    int first = 1;
    for (size_t k = 0; k < sizeof CNI_VARIABLES / sizeof CNI_VARIABLES[0]; k++) {
        const char *value = getenv(CNI_VARIABLES[k]);
        if (value == NULL) {
            continue;
        }
        if (!first) {
            buf_str(&body, ", ");
        }
        first = 0;
        buf_fmt(&body, "\"%s\": ", CNI_VARIABLES[k]);
        json_string(&body, value, strlen(value), AS_SURROGATEESCAPE);
    }
    buf_str(&body, "}, \"config\": \"");
    base64_encode(&body, (const unsigned char *)input.data, input.len);
    buf_str(&body, "\"}");

    reply_t reply;
    http_request(&settings, "POST", "/cni", &body, REQUEST_TIMEOUT_SECONDS, &reply);
    if (adding && (reply.unreachable || reply.status == NOT_READY)) {
        /* not there yet, or its caches still syncing: wait for /readyz, then once more */
        wait_until_ready();
        http_request(&settings, "POST", "/cni", &body, REQUEST_TIMEOUT_SECONDS, &reply);
    }
    if (reply.malformed) {
        buf_t msg = about_socket("multus daemon at ", " sent a malformed HTTP answer");
        fail(DECODE_FAILURE, &msg, reply.failure.data, reply.failure.len);
    }
    if (reply.status == 0) {
        fail_later("cannot reach the multus daemon at ", ": ", &reply.failure);
    }
    if (reply.status == 400) {
        write_all(1, reply.body, reply.body_len);
        return 1;
    }
    if (reply.status != 200) {
        buf_t suffix = {0};
        buf_fmt(&suffix, " answered HTTP %d" RETRY, reply.status);
        buf_t msg = about_socket("multus daemon at ", suffix.data);
        fail(TRY_AGAIN_LATER, &msg, reply.body, reply.body_len < 200 ? reply.body_len : 200);
    }
    member_t result = {"Result", 0, 0, 0};
    if (!scan_object(reply.body, reply.body_len, &result, 1) || !result.found) {
        buf_t msg = {0};
        buf_str(&msg, "multus daemon sent an answer that is not {\"Result\": ...}");
        fail(DECODE_FAILURE, &msg, NULL, 0);
    }
    size_t len = result.end - result.start;
    if (!(len == 4 && memcmp(reply.body + result.start, "null", 4) == 0)) {
        buf_t out = {0};
        buf_add(&out, reply.body + result.start, len);
        buf_char(&out, '\n');
        write_all(1, out.data, out.len);
    }
    return 0;
}
