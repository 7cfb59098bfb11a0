/*
 * loadgen: many live-stream viewers in one small process (epoll, no threads).
 *
 * Opens N connections to an SSE or WebSocket endpoint, reads every event, and measures
 * publish-to-receive latency from the publish time the producer put inside each event
 * ("t": POSIX seconds). It is driven by line commands on stdin and answers with one JSON
 * object per line on stdout, so the Python orchestrator (bench/run.py) stays in charge:
 *
 *   connect        open every connection (at --rate per second); answers when all are up
 *   reset [SEQ]    start a measurement window: zero counters, latencies and CPU; count
 *                  only events with sequence number "s" >= SEQ from now on
 *   report         the window so far: events, latency percentiles, resets, own CPU use
 *   close fin|rst  close every connection at once (FIN, or RST with SO_LINGER 0)
 *   reconnect [K]  close K connections (all by default, round robin) and open them again,
 *                  resuming after the last event id each saw (Last-Event-ID); answers when up
 *   quit
 *
 * Each connection also checks the order of what it receives by the events' sequence numbers
 * ("s", one publisher, one topic): a number skipped is a gap unless a reset arrived in between
 * (then the server said so: not silent). A number seen again is a duplicate when its event id
 * was seen too (the server delivered one event twice), and a repeat when it came under a new
 * id (the producer published it twice, say retrying a publish whose answer it lost).
 *
 * Usage: loadgen --port P --mode sse|ws --conns N --targets FILE [--host H] [--rate R]
 * FILE has one "PATH<TAB>COOKIE" line per distinct viewer; connection i uses line i % lines.
 *
 * Built from Debian's gcc and libc only: cc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_US 100            /* latency histogram resolution: 0.1 ms */
#define BUCKETS (600000)         /* up to 60 s; later arrivals land in the last bucket */
#define READ_CHUNK 65536
#define LINE_MAX_BYTES (1 << 20)

enum mode { SSE, WS };
enum state { IDLE, CONNECTING, HEADERS, BODY, CLOSED };

struct conn {
    int fd;
    enum state state;
    int chunked;        /* HTTP chunked transfer encoding (SSE responses) */
    long chunk_left;    /* bytes left in the chunk; -1: in its size line; -2: after it */
    char hex[16];       /* the chunk-size line read so far */
    size_t hex_len;
    char *buf;          /* unparsed bytes: headers, a partial line or a partial frame */
    size_t len, cap;
    long long last_seq; /* sequence number of the last event; -1: none yet */
    int reset_pending;  /* a reset arrived since that event: a jump is expected */
    long long last_id;  /* id of the last event, for Last-Event-ID; -1: none yet */
    long long seen_id;  /* id of the last event checked in order; -1: none yet */
};

static enum mode mode = SSE;
static const char *host = "127.0.0.1";
static int port, nconns, rate = 2000;
static char **requests;
static int nrequests;
static struct conn *conns;
static int epfd;

/* The measurement window. */
static uint32_t *histogram;
static long long events, resets, closes, errors, bytes_in, open_conns, gaps, duplicates, repeats;
static int churn_next;
static double max_latency_ms;
static struct timespec window_start;
static double window_cpu;
static long long min_seq;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void append(struct conn *c, const char *data, size_t n) {
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n) cap *= 2;
        c->buf = realloc(c->buf, cap);
        if (!c->buf) die("realloc");
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
}

static void consume(struct conn *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* One event's text (an SSE data line or a WebSocket message): its order, its latency, or a
   control message. Events carry "s" (the publisher's sequence number): those published
   before the window (s < min_seq) are not counted in it. */
static void on_message(struct conn *c, const char *text, size_t n) {
    const char *t = memmem(text, n, "\"t\":", 4);
    if (!t) {
        if (memmem(text, n, "\"reset\"", 7)) { /* WebSocket: {"event":"reset",...} */
            resets++;
            c->reset_pending = 1;
        }
        return;
    }
    if (mode == WS) {
        const char *id = memmem(text, n, "\"id\":", 5);
        if (id) c->last_id = strtoll(id + 5, NULL, 10);
    }
    /* SSE: the frame's "id:" line came before its data */
    long long id = c->last_id, seen = c->seen_id;
    c->seen_id = id;
    const char *s = memmem(text, n, "\"s\":", 4);
    long long seq = s ? strtoll(s + 4, NULL, 10) : -1;
    if (seq >= 0 && c->last_seq >= 0) {
        if (seq <= c->last_seq) {
            if (id > seen) repeats++;
            else duplicates++;
            return;
        }
        if (seq > c->last_seq + 1 && !c->reset_pending) gaps += seq - c->last_seq - 1;
    }
    c->reset_pending = 0;
    if (seq > c->last_seq) c->last_seq = seq;
    if (seq >= 0 && seq < min_seq) return;
    double sent = strtod(t + 4, NULL);
    double ms = (now_seconds() - sent) * 1000.0;
    if (ms < 0) ms = 0;
    long bucket = (long)(ms * 1000.0 / BUCKET_US);
    if (bucket >= BUCKETS) bucket = BUCKETS - 1;
    histogram[bucket]++;
    if (ms > max_latency_ms) max_latency_ms = ms;
    events++;
}

static void close_conn(struct conn *c, int counted_as_error) {
    if (c->state == CLOSED || c->fd < 0) return;
    if (c->state == BODY) open_conns--;
    if (counted_as_error) errors++;
    close(c->fd);
    c->fd = -1;
    c->state = CLOSED;
    c->len = 0;
}

/* SSE: complete lines of the (de-chunked) body. */
static void parse_sse(struct conn *c, const char *data, size_t n) {
    append(c, data, n);
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->buf + start, '\n', c->len - start);
        if (!nl) break;
        size_t line_len = nl - (c->buf + start);
        const char *line = c->buf + start;
        if (line_len >= 5 && memcmp(line, "data:", 5) == 0) {
            on_message(c, line + 5, line_len - 5);
        } else if (line_len >= 3 && memcmp(line, "id:", 3) == 0) {
            c->last_id = strtoll(line + 3, NULL, 10);
        } else if (line_len >= 12 && memcmp(line, "event: close", 12) == 0) {
            closes++;
        } else if (line_len >= 12 && memcmp(line, "event: reset", 12) == 0) {
            resets++;
            c->reset_pending = 1;
        }
        start += line_len + 1;
    }
    consume(c, start);
    if (c->len > LINE_MAX_BYTES) close_conn(c, 1);
}

/* Chunked transfer decoding in front of the SSE parser. */
static void feed_body(struct conn *c, const char *data, size_t n) {
    if (!c->chunked) {
        parse_sse(c, data, n);
        return;
    }
    while (n > 0) {
        if (c->chunk_left > 0) {
            size_t take = (size_t)c->chunk_left < n ? (size_t)c->chunk_left : n;
            parse_sse(c, data, take);
            c->chunk_left -= take;
            data += take;
            n -= take;
            if (c->chunk_left == 0) c->chunk_left = -2; /* then its CRLF */
            continue;
        }
        /* Chunk framing bytes: "<hex>\r\n" before a chunk, "\r\n" after one. Rare, so
           handled a byte at a time with a tiny line buffer. */
        char ch = *data++;
        n--;
        if (c->chunk_left == -2) {
            if (ch == '\n') c->chunk_left = -1;
            continue;
        }
        if (ch == '\n') {
            c->hex[c->hex_len] = 0;
            long size = strtol(c->hex, NULL, 16);
            c->hex_len = 0;
            if (size == 0) {
                close_conn(c, 0); /* the server ended the response */
                return;
            }
            c->chunk_left = size;
        } else if (ch != '\r' && c->hex_len < sizeof c->hex - 1) {
            c->hex[c->hex_len++] = ch;
        }
    }
}

/* WebSocket: server frames are unmasked; text frames carry events. */
static void parse_ws(struct conn *c, const char *data, size_t n) {
    append(c, data, n);
    size_t start = 0;
    for (;;) {
        const unsigned char *f = (const unsigned char *)c->buf + start;
        size_t avail = c->len - start;
        if (avail < 2) break;
        int opcode = f[0] & 0x0f;
        uint64_t len = f[1] & 0x7f;
        size_t head = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = ((uint64_t)f[2] << 8) | f[3];
            head = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
            head = 10;
        }
        if (avail < head + len) break;
        if (opcode == 1) {
            on_message(c, (const char *)f + head, len);
        } else if (opcode == 8) {
            closes++;
            close_conn(c, 0);
            return;
        }
        start += head + len;
    }
    consume(c, start);
    if (c->len > LINE_MAX_BYTES) close_conn(c, 1);
}

static void on_headers(struct conn *c) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return;
    size_t head = end + 4 - c->buf;
    int ok = mode == SSE ? (c->len > 12 && memcmp(c->buf + 9, "200", 3) == 0)
                         : (c->len > 12 && memcmp(c->buf + 9, "101", 3) == 0);
    if (!ok) {
        close_conn(c, 1);
        return;
    }
    c->chunked = memmem(c->buf, head, "chunked", 7) != NULL;
    c->chunk_left = -1;
    c->hex_len = 0;
    c->state = BODY;
    open_conns++;
    size_t rest = c->len - head;
    char *body = malloc(rest + 1);
    memcpy(body, c->buf + head, rest);
    c->len = 0;
    if (mode == SSE) feed_body(c, body, rest);
    else parse_ws(c, body, rest);
    free(body);
}

static void send_request(struct conn *c, int index) {
    const char *line = requests[index % nrequests];
    const char *tab = strchr(line, '\t');
    char path[2048], request[8192];
    size_t path_len = tab ? (size_t)(tab - line) : strlen(line);
    snprintf(path, sizeof path, "%.*s", (int)path_len, line);
    const char *cookie = tab ? tab + 1 : "";
    char resume[64] = "";
    int n;
    if (mode == SSE) {
        if (c->last_id >= 0) snprintf(resume, sizeof resume, "Last-Event-ID: %lld\r\n", c->last_id);
        n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                     "Cookie: %s\r\n%s\r\n",
                     path, host, port, cookie, resume);
    } else {
        if (c->last_id >= 0)
            snprintf(resume, sizeof resume, "%slast_event_id=%lld", strchr(path, '?') ? "&" : "?",
                     c->last_id);
        n = snprintf(request, sizeof request,
                     "GET %s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n",
                     path, resume, host, port, cookie);
    }
    if (write(c->fd, request, n) != n) close_conn(c, 1);
}

static int start_connect(struct conn *c) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = CONNECTING;
    c->len = 0;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void on_readable(struct conn *c) {
    static char data[READ_CHUNK];
    for (;;) {
        ssize_t n = read(c->fd, data, sizeof data);
        if (n > 0) {
            bytes_in += n;
            if (c->state == HEADERS) {
                append(c, data, n);
                on_headers(c);
            } else if (mode == SSE) {
                feed_body(c, data, n);
            } else {
                parse_ws(c, data, n);
            }
            if (c->state == CLOSED) return;
            if (n < (ssize_t)sizeof data) return;
        } else if (n == 0) {
            close_conn(c, 0);
            return;
        } else {
            if (errno != EAGAIN && errno != EWOULDBLOCK) close_conn(c, 1);
            return;
        }
    }
}

static void on_event(struct epoll_event *ev) {
    int index = ev->data.u32;
    struct conn *c = &conns[index];
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            close_conn(c, 1);
            return;
        }
        struct epoll_event in = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &in);
        c->state = HEADERS;
        send_request(c, index);
        return;
    }
    if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
}

static double percentile(double p) {
    long long want = (long long)(events * p + 0.999999), seen = 0;
    if (events == 0) return 0;
    for (long i = 0; i < BUCKETS; i++) {
        seen += histogram[i];
        if (seen >= want) return (i + 1) * BUCKET_US / 1000.0;
    }
    return max_latency_ms;
}

static void reset_window(long long from_seq) {
    min_seq = from_seq;
    memset(histogram, 0, sizeof(uint32_t) * BUCKETS);
    events = resets = closes = errors = bytes_in = gaps = duplicates = repeats = 0;
    max_latency_ms = 0;
    clock_gettime(CLOCK_MONOTONIC, &window_start);
    window_cpu = cpu_seconds();
}

static void report(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double wall = (now.tv_sec - window_start.tv_sec) + (now.tv_nsec - window_start.tv_nsec) / 1e9;
    double cpu = cpu_seconds() - window_cpu;
    printf("{\"event\":\"report\",\"received\":%lld,\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
           "\"max_ms\":%.1f,\"resets\":%lld,\"closes\":%lld,\"errors\":%lld,\"open\":%lld,"
           "\"gaps\":%lld,\"duplicates\":%lld,\"repeats\":%lld,\"bytes\":%lld,"
           "\"cpu_seconds\":%.3f,"
           "\"wall_seconds\":%.3f,\"cpu_percent\":%.1f}\n",
           events, percentile(0.50), percentile(0.99), max_latency_ms, resets, closes, errors,
           open_conns, gaps, duplicates, repeats, bytes_in, cpu, wall, wall > 0 ? 100.0 * cpu / wall : 0.0);
    fflush(stdout);
}

static void poll_once(int timeout_ms) {
    static struct epoll_event evs[1024];
    int n = epoll_wait(epfd, evs, 1024, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u32 == UINT32_MAX) continue; /* stdin: handled by the caller */
        on_event(&evs[i]);
    }
}

/* Open `count` connections starting at `first` (round robin), at --rate a second, and wait
   until each has its response headers or failed (60 s at most). */
static void open_range(int first, int count, const char *event) {
    double started = now_seconds();
    long long failed = 0;
    int done = 0;
    while (done < count) {
        double due = (now_seconds() - started) * rate;
        while (done < count && done < due + 1) {
            if (start_connect(&conns[(first + done) % nconns]) < 0) failed++;
            done++;
        }
        poll_once(1);
    }
    double deadline = now_seconds() + 60;
    for (;;) {
        int pending = 0;
        for (int i = 0; i < count; i++) {
            enum state state = conns[(first + i) % nconns].state;
            if (state == CONNECTING || state == HEADERS) pending++;
        }
        if (!pending || now_seconds() > deadline) break;
        poll_once(10);
    }
    printf("{\"event\":\"%s\",\"open\":%lld,\"failed\":%lld,\"errors\":%lld,"
           "\"seconds\":%.2f}\n",
           event, open_conns, failed, errors, now_seconds() - started);
    fflush(stdout);
}

static void reconnect(int count) {
    if (count <= 0 || count > nconns) count = nconns;
    for (int i = 0; i < count; i++) close_conn(&conns[(churn_next + i) % nconns], 0);
    open_range(churn_next, count, "reconnected");
    churn_next = (churn_next + count) % nconns;
}

static void close_all(int reset) {
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    for (int i = 0; i < nconns; i++) {
        if (conns[i].fd >= 0 && reset)
            setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        close_conn(&conns[i], 0);
    }
    printf("{\"event\":\"closed\"}\n");
    fflush(stdout);
}

static void load_targets(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die(path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        requests = realloc(requests, sizeof(char *) * (nrequests + 1));
        requests[nrequests++] = strdup(line);
    }
    free(line);
    fclose(f);
    if (!nrequests) {
        fprintf(stderr, "loadgen: %s has no targets\n", path);
        exit(2);
    }
}

int main(int argc, char **argv) {
    const char *targets = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns")) nconns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate")) rate = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--targets")) targets = argv[i + 1];
        else if (!strcmp(argv[i], "--mode")) mode = strcmp(argv[i + 1], "ws") ? SSE : WS;
    }
    if (!port || nconns <= 0 || !targets) {
        fprintf(stderr, "usage: loadgen --port P --mode sse|ws --conns N --targets FILE "
                        "[--host H] [--rate R]\n");
        return 2;
    }
    load_targets(targets);
    conns = calloc(nconns, sizeof *conns);
    histogram = calloc(BUCKETS, sizeof(uint32_t));
    if (!conns || !histogram) die("calloc");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].state = IDLE;
        conns[i].last_seq = conns[i].last_id = conns[i].seen_id = -1;
    }
    epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1");
    struct epoll_event in = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &in);
    reset_window(0);

    char command[256];
    size_t command_len = 0;
    for (;;) {
        poll_once(50);
        ssize_t n = read(0, command + command_len, sizeof command - 1 - command_len);
        if (n == 0) break; /* the orchestrator went away */
        if (n < 0) continue;
        command_len += n;
        command[command_len] = 0;
        char *nl;
        while ((nl = strchr(command, '\n'))) {
            *nl = 0;
            if (!strcmp(command, "connect")) open_range(0, nconns, "connected");
            else if (!strncmp(command, "reconnect", 9)) reconnect(atoi(command + 9));
            else if (!strncmp(command, "reset", 5)) {
                reset_window(atoll(command + 5));
                printf("{\"event\":\"reset\"}\n");
                fflush(stdout);
            } else if (!strcmp(command, "report")) report();
            else if (!strcmp(command, "close fin")) close_all(0);
            else if (!strcmp(command, "close rst")) close_all(1);
            else if (!strcmp(command, "quit")) return 0;
            size_t used = nl + 1 - command;
            memmove(command, nl + 1, command_len - used + 1);
            command_len -= used;
        }
    }
    return 0;
}
