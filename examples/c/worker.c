/*
 * worker.c - an external memfd-pool worker in C (docs/worker-protocol.md).
 * C99 + POSIX + Linux, libc only.
 *
 *   cc -O2 -Wall -Wextra -o worker examples/c/worker.c
 *   ./worker [--kind NAME] [--token TOKEN] [--name NAME] SOCKET_PATH
 *
 * Connects to the server's worker socket, declares one kind (default "c-fnv1a64": one input,
 * params {"output": boolean}) and serves jobs one at a time until the server closes the
 * connection or asks it to shut down. For each job the input's memfd arrives as a read-only
 * descriptor in SCM_RIGHTS; the worker maps it, hashes it (FNV-1a 64), prints
 *
 *   job <id>: input fd <n> -> /memfd:... size <bytes> fnv1a64 <16 hex>
 *
 * on stdout, and answers {"fnv1a64", "bytes", "fd"}. The fd printed is this process's own
 * number, installed by the kernel when the message arrived: it is usually not the server's,
 * and means nothing outside this process. With {"output": true} the job also returns an output:
 * a new memfd holding the input's bytes inverted (255 - b), unmapped, then sealed shrink, grow,
 * write and seal before it is sent.
 *
 * Exit status: 0 the server shut us down or closed the connection after serving; 1 the server
 * refused us (code and message on stderr); 2 usage; 3 system or protocol error.
 */
#define _GNU_SOURCE /* memfd_create, F_ADD_SEALS, MSG_CMSG_CLOEXEC, SOCK_CLOEXEC, MSG_NOSIGNAL */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* Linux 6.3+ */
#endif

#define MAX_MESSAGE (256 * 1024) /* the worker protocol's limit, both ways */
#define FDS_ROOM 64              /* room to see (and close) more than a message may carry */
#define MAX_JOB_ID 256

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_FAILED = 3 };

static const char *prog = "worker";
static const char *kind_name = "c-fnv1a64";
static int sock = -1;

/* ---- a small JSON reader: finds members of objects, walks arrays, never allocates ---- */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p >= end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* Returns the end of the value at p, or NULL when it is malformed. */
static const char *skip_value(const char *p, const char *end, int depth)
{
    p = ws(p, end);
    if (p >= end || depth > 64)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = ws(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                p = skip_string(ws(p, end), end);
                if (!p || (p = ws(p, end)) >= end || *p != ':')
                    return NULL;
                p++;
            }
            if (!(p = skip_value(p, end, depth + 1)) || (p = ws(p, end)) >= end)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    const char *start = p;
    while (p < end && strchr(",}] \t\r\n", *p) == NULL)
        p++;
    return p > start ? p : NULL;
}

/* The value of member `key` of the object at obj (plain ASCII keys), or NULL. */
static const char *member(const char *obj, const char *end, const char *key)
{
    size_t klen = strlen(key);
    const char *p = ws(obj, end);
    if (p >= end || *p != '{')
        return NULL;
    p = ws(p + 1, end);
    if (p < end && *p == '}')
        return NULL;
    for (;;) {
        const char *k = ws(p, end), *kend = skip_string(k, end);
        if (!kend || (p = ws(kend, end)) >= end || *p != ':')
            return NULL;
        const char *v = ws(p + 1, end);
        if ((size_t)(kend - k) == klen + 2 && memcmp(k + 1, key, klen) == 0)
            return v;
        if (!(p = skip_value(v, end, 1)) || (p = ws(p, end)) >= end || *p != ',')
            return NULL;
        p++;
    }
}

static int is_literal(const char *v, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return v && (size_t)(end - v) >= n && memcmp(v, lit, n) == 0;
}

/* Copies a string value without escapes into out (the server's ids and names never need any). */
static int plain_string(const char *v, const char *end, char *out, size_t room)
{
    const char *e = v ? skip_string(v, end) : NULL;
    if (!e)
        return -1;
    size_t n = (size_t)(e - v - 2);
    if (n == 0 || n >= room || memchr(v + 1, '\\', n))
        return -1;
    memcpy(out, v + 1, n);
    out[n] = '\0';
    return 0;
}

static long long integer(const char *v, const char *end, long long fallback)
{
    if (!v || v >= end || !(*v == '-' || (*v >= '0' && *v <= '9')))
        return fallback;
    char buf[24];
    size_t n = 0;
    while (v + n < end && n < sizeof buf - 1 && (v[n] == '-' || (v[n] >= '0' && v[n] <= '9')))
        n++;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

/* ---- sending ---- */

static int send_message(const char *data, size_t len, const int *fds, int nfds)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 1)];
    } control;
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) { /* this worker sends at most one output */
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), fds, sizeof(int));
    }
    for (;;) {
        ssize_t s = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (s < 0 && errno == EINTR)
            continue;
        if (s < 0) {
            fprintf(stderr, "%s: sendmsg: %s\n", prog, strerror(errno));
            return -1;
        }
        return 0;
    }
}

static int send_text(const char *text) { return send_message(text, strlen(text), NULL, 0); }

static int fail_job(const char *job, const char *code, const char *message)
{
    char out[1024];
    snprintf(out, sizeof out,
             "{\"t\":\"done\",\"job\":\"%s\",\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\"},"
             "\"fdCount\":0}",
             job, code, message);
    return send_text(out);
}

static void close_fds(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* ---- the kind ---- */

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static int create_memfd(const char *name)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd < 0 && errno == EINVAL) /* before 6.3: without NOEXEC_SEAL, never without ALLOW_SEALING */
        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
}

/* A sealed memfd holding the inverted bytes, or -1 (errno set). */
static int inverted_output(const char *job, const unsigned char *src, size_t size)
{
    char name[MAX_JOB_ID + 32];
    snprintf(name, sizeof name, "memfd-pool-out:%s:0", job);
    int fd = create_memfd(name);
    if (fd < 0)
        return -1;
    if (size > 0) {
        if (ftruncate(fd, (off_t)size) < 0)
            goto fail;
        unsigned char *out = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (out == MAP_FAILED)
            goto fail;
        for (size_t i = 0; i < size; i++)
            out[i] = (unsigned char)(255 - src[i]);
        /* F_SEAL_WRITE fails EBUSY while a writable shared mapping exists: unmap first. */
        munmap(out, size);
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* One run: `fds` are its descriptors (closed here, on every path). */
static int run_job(const char *msg, const char *end, int *fds, int nfds)
{
    char job[MAX_JOB_ID + 1], kind[128], line[512], target[PATH_MAX];
    int status = 0;
    if (plain_string(member(msg, end, "job"), end, job, sizeof job) < 0) {
        fprintf(stderr, "%s: a run without a usable job id; ignored\n", prog);
        close_fds(fds, nfds);
        return 0;
    }
    long long expected = integer(member(msg, end, "fdCount"), end, -1);
    if (expected != nfds || nfds != 1) {
        close_fds(fds, nfds);
        return fail_job(job, "PROTOCOL_ERROR", "expected exactly one input descriptor, as fdCount says");
    }
    if (plain_string(member(msg, end, "kind"), end, kind, sizeof kind) < 0 || strcmp(kind, kind_name) != 0) {
        close_fds(fds, nfds);
        return fail_job(job, "UNKNOWN_KIND", "this worker serves one kind only");
    }
    int fd = fds[0];
    snprintf(line, sizeof line, "{\"t\":\"started\",\"job\":\"%s\",\"fds\":[%d]}", job, fd);
    if (send_text(line) < 0) {
        close(fd);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < 0) {
        close(fd);
        return fail_job(job, "HANDLER_ERROR", "fstat of the input failed");
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *data = (const unsigned char *)"";
    void *map = MAP_FAILED;
    if (size > 0) { /* mmap of length 0 is EINVAL */
        map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED && errno == EPERM) /* before Linux 6.7 on a write-sealed memfd */
            map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            return fail_job(job, "HANDLER_ERROR", "mmap of the input failed");
        }
        data = map;
    }
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t tn = readlink(link, target, sizeof target - 1);
    target[tn > 0 ? tn : 0] = '\0';
    uint64_t hash = fnv1a64(data, size);
    printf("job %s: input fd %d -> %s size %zu fnv1a64 %016" PRIx64 "\n", job, fd, target, size, hash);
    fflush(stdout);

    const char *params = member(msg, end, "params");
    int want_output = params && is_literal(member(params, end, "output"), end, "true");
    int out = -1;
    if (want_output && (out = inverted_output(job, data, size)) < 0) {
        fprintf(stderr, "%s: output for %s: %s\n", prog, job, strerror(errno));
    }
    if (size > 0)
        munmap(map, size);
    close(fd); /* the job's input is released before its answer leaves */
    if (want_output && out < 0)
        return fail_job(job, "HANDLER_ERROR", "could not create the output memfd");
    char outputs[48] = "";
    if (out >= 0)
        snprintf(outputs, sizeof outputs, "{\"size\":%zu}", size);
    int n = snprintf(line, sizeof line,
                     "{\"t\":\"done\",\"job\":\"%s\",\"ok\":true,\"result\":{\"fnv1a64\":\"%016" PRIx64
                     "\",\"bytes\":%zu,\"fd\":%d},\"outputs\":[%s],\"fdCount\":%d}",
                     job, hash, size, fd, outputs, out >= 0 ? 1 : 0);
    if (n < 0 || (size_t)n >= sizeof line)
        status = fail_job(job, "HANDLER_ERROR", "answer does not fit");
    else
        status = send_message(line, (size_t)n, &out, out >= 0 ? 1 : 0);
    if (out >= 0)
        close(out); /* the server has its own copy now */
    return status;
}

/* One message or one part of a batch; returns 1 to stop (shutdown), 2 to stop (refused), -1 on
 * error, else 0. */
static int handle(const char *msg, const char *end, int *fds, int nfds)
{
    char t[32];
    if (plain_string(member(msg, end, "t"), end, t, sizeof t) < 0) {
        close_fds(fds, nfds);
        fprintf(stderr, "%s: a message without \"t\"; ignored\n", prog);
        return 0;
    }
    if (strcmp(t, "run") == 0)
        return run_job(msg, end, fds, nfds) < 0 ? -1 : 0;
    if (strcmp(t, "batch") == 0) {
        const char *p = member(msg, end, "messages");
        if (!p || *p != '[') {
            close_fds(fds, nfds);
            return 0;
        }
        int offset = 0;
        p = ws(p + 1, end);
        while (p < end && *p != ']') {
            const char *e = skip_value(p, end, 1);
            if (!e)
                break;
            long long count = integer(member(p, e, "fdCount"), e, 0);
            if (count < 0 || count > nfds - offset)
                count = 0;
            int r = handle(p, e, fds + offset, (int)count);
            offset += (int)count;
            if (r != 0) {
                close_fds(fds + offset, nfds - offset);
                return r;
            }
            p = ws(e, end);
            if (p < end && *p == ',')
                p = ws(p + 1, end);
        }
        close_fds(fds + offset, nfds - offset); /* any the parts did not claim */
        return 0;
    }
    close_fds(fds, nfds); /* only runs (and batches of them) carry descriptors */
    if (strcmp(t, "ping") == 0) {
        char pong[64];
        snprintf(pong, sizeof pong, "{\"t\":\"pong\",\"seq\":%lld}", integer(member(msg, end, "seq"), end, 0));
        return send_text(pong) < 0 ? -1 : 0;
    }
    if (strcmp(t, "shutdown") == 0)
        return 1; /* jobs run one at a time: none is running now */
    if (strcmp(t, "refused") == 0) {
        fprintf(stderr, "%s: the server closed this worker: %.*s\n", prog, (int)(end - msg), msg);
        return 2;
    }
    return 0; /* cancel (jobs here are quick and run to the end), forget (no cache): nothing to do */
}

/* Receives one message: its length, or 0 when the server closed, -1 on error. */
static ssize_t receive(char *data, int *fds, int *nfds)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * FDS_ROOM)];
    } control;
    struct iovec iov = { .iov_base = data, .iov_len = MAX_MESSAGE + 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    *nfds = 0;
    if (n < 0)
        return errno == ECONNRESET ? 0 : -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (*nfds < FDS_ROOM)
                fds[(*nfds)++] = got;
            else
                close(got);
        }
    }
    if ((msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || n > MAX_MESSAGE) {
        fprintf(stderr, "%s: a message was truncated (%s); its descriptors were closed\n", prog,
                (msg.msg_flags & MSG_CTRUNC) ? "descriptors lost" : "too large");
        close_fds(fds, *nfds);
        *nfds = 0;
        errno = EBADMSG;
        return -1;
    }
    return n;
}

/* The handshake reply we expect, or exit status on a refusal / error. */
static int expect(char *data, const char *what)
{
    int fds[FDS_ROOM], nfds;
    ssize_t n = receive(data, fds, &nfds);
    close_fds(fds, nfds);
    if (n <= 0) {
        fprintf(stderr, "%s: the server closed the connection during the handshake\n", prog);
        return EXIT_FAILED;
    }
    const char *end = data + n;
    char t[32];
    if (plain_string(member(data, end, "t"), end, t, sizeof t) == 0 && strcmp(t, what) == 0)
        return EXIT_OK;
    const char *error = member(data, end, "error");
    char code[64] = "PROTOCOL_ERROR";
    if (error)
        plain_string(member(error, end, "code"), end, code, sizeof code);
    fprintf(stderr, "%s: %s: %.*s\n", prog, code, (int)n, data);
    return strcmp(t, "refused") == 0 ? EXIT_REFUSED : EXIT_FAILED;
}

static int usage(void)
{
    fprintf(stderr, "usage: %s [--kind NAME] [--token TOKEN] [--name NAME] SOCKET_PATH\n", prog);
    return EXIT_USAGE;
}

static int plain(const char *s) /* safe to embed in JSON without escaping */
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("-_.:~", *s)))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *token = NULL, *name = "c-worker";
    int status = EXIT_FAILED, fds[FDS_ROOM], nfds = 0;
    if (argc > 0 && argv[0] && argv[0][0])
        prog = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc)
            kind_name = argv[++i];
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
            token = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (argv[i][0] == '-' || path)
            return usage();
        else
            path = argv[i];
    }
    if (!path || !plain(kind_name) || strlen(kind_name) > 64 || !plain(name) || strlen(name) > 64 ||
        (token && (!plain(token) || strlen(token) > 256)))
        return usage();

    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path)
        return usage();
    memcpy(addr.sun_path, path, strlen(path) + 1);
    char *data = malloc(MAX_MESSAGE + 1);
    if (!data)
        return EXIT_FAILED;
    sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "%s: connect %s: %s\n", prog, path, strerror(errno));
        goto out;
    }

    char hello[512];
    snprintf(hello, sizeof hello, "{\"t\":\"hello\",\"pid\":%ld,\"protocol\":1,\"name\":\"%s\"%s%s%s}",
             (long)getpid(), name, token ? ",\"token\":\"" : "", token ? token : "", token ? "\"" : "");
    if (send_text(hello) < 0 || (status = expect(data, "welcome")) != EXIT_OK)
        goto out;
    char ready[1024];
    snprintf(ready, sizeof ready,
             "{\"t\":\"ready\",\"threads\":1,\"kinds\":[{\"name\":\"%s\",\"description\":\"FNV-1a 64 of the "
             "input, from C; with params.output, also the input's bytes inverted\",\"inputs\":{\"min\":1,"
             "\"max\":1},\"outputs\":{\"min\":0,\"max\":1},\"params\":{\"type\":\"object\",\"properties\":"
             "{\"output\":{\"type\":\"boolean\"}},\"additionalProperties\":false}}]}",
             kind_name);
    status = EXIT_FAILED;
    if (send_text(ready) < 0 || (status = expect(data, "accepted")) != EXIT_OK)
        goto out;
    fprintf(stderr, "%s: serving %s (pid %ld)\n", prog, kind_name, (long)getpid());

    for (;;) {
        ssize_t n = receive(data, fds, &nfds);
        if (n == 0 && nfds == 0) {
            status = EXIT_OK; /* the server closed the connection */
            break;
        }
        if (n < 0) {
            if (errno == EBADMSG)
                continue; /* the job it carried times out on the server */
            fprintf(stderr, "%s: recvmsg: %s\n", prog, strerror(errno));
            status = EXIT_FAILED;
            break;
        }
        int r = handle(data, data + n, fds, nfds);
        nfds = 0; /* handle() closed or used every descriptor */
        if (r != 0) {
            status = r == 1 ? EXIT_OK : r == 2 ? EXIT_REFUSED : EXIT_FAILED;
            break;
        }
    }
out:
    close_fds(fds, nfds);
    if (sock >= 0)
        close(sock);
    free(data);
    return status;
}
