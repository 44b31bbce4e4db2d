/* Runs a server command as git would (stdin passed through, stdout copied and counted) and
 * appends its resource use to $BENCH_OUT as one CSV line: wall_s,user_s,sys_s,maxrss_kib,bytes_out.
 * Used as the --upload-pack / --receive-pack wrapper by bench/run.py, which compiles it.
 *
 * Why C and not Python: a child's peak RSS and CPU include what it did before exec, and a
 * child forked from a Python interpreter starts with the interpreter's 14 MB of resident pages
 * and its page tables to copy; for an ls-remote that outweighed the server itself. Forked from
 * this small process, the server's numbers are its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: timed COMMAND [ARGS...]\n");
        return 2;
    }
    const char *out_path = getenv("BENCH_OUT");
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 2;
    }
    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[1], argv + 1);
        perror("exec");
        _exit(127);
    }
    close(fds[1]);
    static char buf[1 << 16];
    long long bytes = 0;
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        bytes += n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += w;
        }
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    double wall = now() - start;
    if (out_path) {
        FILE *f = fopen(out_path, "a");
        if (f) {
            fprintf(f, "%.6f,%.6f,%.6f,%ld,%lld\n", wall,
                    ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
                    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss, bytes);
            fclose(f);
        }
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
