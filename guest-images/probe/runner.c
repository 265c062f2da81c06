// SPDX-License-Identifier: GPL-2.0-only
/*
 * The runner: every selected probe in a child process of its own, so a fault, a
 * dropped capability or a kernel oops stays with that probe; a deadline per
 * probe; "harness-probe: begin/end N NAME" markers in /dev/kmsg around each, so
 * the host can tell which probe a kernel warning came from; one KTAP result per
 * probe; and the command line (--list, --only, the spare device).
 */
#include "probe.h"

static int kmsg_fd = -1;
static const char *stall_at; /* --stall NAME */
static const char *crash_at; /* --crash NAME */

static void kmsg(const char *fmt, ...)
{
	char line[300];
	va_list ap;

	if (kmsg_fd < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(kmsg_fd, line, strlen(line)) < 0) {
		/* nothing to do: the markers are a courtesy to the host */
	}
}

static void child_main(const struct probe *pr, int out)
{
	char msg[sizeof(skip_reason) + sizeof(observe_buf) + 4];
	int sig, len;

	observe_buf[0] = 0;
	skip_reason[0] = 0;
	install_fault_handlers();
	sig = sigsetjmp(fault_jmp, 1);
	if (sig == 0) {
		alarm(PROBE_TIMEOUT_S);
		pr->fn();
	} else {
		observe("outcome=%s", signame(sig));
	}
	alarm(0);
	len = snprintf(msg, sizeof(msg), "%s\n%s", skip_reason, observe_buf);
	if (write(out, msg, (size_t)len) < 0)
		_exit(3);
	_exit(0);
}

/* sysrq-c: the kernel panics ("sysrq triggered crash"), as it would under a fatal probe. */
static void crash_kernel(void)
{
	int fd = open("/proc/sys/kernel/sysrq", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
			/* the trigger below says whether it worked */
		}
		close(fd);
	}
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd < 0 || write(fd, "c", 1) < 0)
		printf("# crash: cannot write /proc/sysrq-trigger (errno %d)\n", errno);
	fflush(stdout);
}

static void on_parent_alarm(int sig)
{
	(void)sig; /* interrupts read() in the parent */
}

static void run_one(const struct probe *pr, int number)
{
	char msg[2048], *nl;
	const char *skip_text, *obs;
	size_t got = 0;
	int fds[2], status = 0, timed_out = 0;
	pid_t pid;

	kmsg("harness-probe: begin %d %s\n", number, pr->name);
	/* On the console too: if the guest dies now, the host knows which probe was running. */
	printf("# running: %d %s\n", number, pr->name);
	fflush(stdout);
	if (stall_at && !strcmp(stall_at, pr->name))
		sleep(600); /* self-test hook: hold this probe so a test can kill the guest under it */
	if (crash_at && !strcmp(crash_at, pr->name))
		crash_kernel(); /* self-test hook: a real kernel panic while this probe runs */
	if (pipe(fds) != 0) {
		printf("# observe: outcome=harness-error call=pipe\nnot ok %d %s\n", number, pr->name);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_main(pr, fds[1]);
	}
	close(fds[1]);
	alarm(PROBE_TIMEOUT_S + 5);
	while (pid > 0 && got < sizeof(msg) - 1) {
		ssize_t n = read(fds[0], msg + got, sizeof(msg) - 1 - got);

		if (n > 0) {
			got += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		} else {
			break;
		}
	}
	alarm(0);
	msg[got] = 0;
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	kmsg("harness-probe: end %d %s\n", number, pr->name);

	nl = strchr(msg, '\n');
	if (pid < 0 || !nl) {
		/* The child died before reporting: a kernel oops kills it, so does a hang past the deadline. */
		if (timed_out)
			printf("# observe: outcome=timeout\n");
		else if (pid > 0 && WIFSIGNALED(status))
			printf("# observe: outcome=killed signal=%s\n", signame(WTERMSIG(status)));
		else
			printf("# observe: outcome=killed status=%d\n", pid < 0 ? -1 : WEXITSTATUS(status));
		printf("not ok %d %s\n", number, pr->name);
		return;
	}
	*nl = 0;
	skip_text = msg;
	obs = nl + 1;
	if (*obs)
		printf("# observe: %s\n", obs);
	if (*skip_text)
		printf("ok %d %s # SKIP %s\n", number, pr->name, skip_text);
	else
		printf("%s %d %s\n", strstr(obs, "outcome=ok") ? "ok" : "not ok", number, pr->name);
}

static int selected(const char *only, const char *name)
{
	size_t len = strlen(name);
	const char *p = only;

	if (!only)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == only || p[-1] == ',') && (p[len] == ',' || p[len] == 0))
			return 1;
		p += len;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	struct sigaction sa;
	int count = 0, number = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			for (size_t j = 0; j < nprobes; j++)
				printf("%s\t%s\t%s\n", probes[j].name, probes[j].flags & DANGEROUS ? "dangerous" : "-",
				       probes[j].what);
			return 0;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--stall") && i + 1 < argc) {
			stall_at = argv[++i];
		} else if (!strcmp(argv[i], "--crash") && i + 1 < argc) {
			crash_at = argv[++i];
		} else if (!strcmp(argv[i], "--spare-pci") && i + 1 < argc) {
			if (sscanf(argv[++i], "%x:%x", &spare_vendor, &spare_device) != 2) {
				fprintf(stderr, "devmem-probe: --spare-pci wants VVVV:DDDD, got %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--spare-name") && i + 1 < argc) {
			spare_name = argv[++i];
		} else if (!strcmp(argv[i], "--spare-driver") && i + 1 < argc) {
			spare_driver = argv[++i];
			if (!spare_modules_given)
				n_spare_modules = 0; /* another driver: built in unless modules are given */
		} else if (!strcmp(argv[i], "--spare-bar") && i + 1 < argc) {
			spare_bar = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--spare-module") && i + 1 < argc) {
			if (!spare_modules_given++)
				n_spare_modules = 0;
			if (n_spare_modules == MAX_SPARE_MODULES) {
				fprintf(stderr, "devmem-probe: more than %d --spare-module\n", MAX_SPARE_MODULES);
				return 2;
			}
			spare_modules[n_spare_modules++] = argv[++i];
		} else {
			fprintf(stderr,
				"usage: %s [--list] [--only NAME,...] [--spare-pci VVVV:DDDD] [--spare-name NAME]\n"
				"  [--spare-driver DRIVER] [--spare-bar N] [--spare-module PATH]...\n",
				argv[0]);
			return 2;
		}
	}
	for (size_t j = 0; j < nprobes; j++)
		count += selected(only, probes[j].name);
	if (only && count == 0) {
		fprintf(stderr, "devmem-probe: no probe matches --only %s\n", only);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_parent_alarm;
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: a timeout interrupts read() */
	setvbuf(stdout, NULL, _IOLBF, 0);
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	load_iomem(); /* once, before the children fork: they inherit the parsed map */
	printf("KTAP version 1\n1..%d\n", count);
	for (size_t j = 0; j < nprobes; j++)
		if (selected(only, probes[j].name))
			run_one(&probes[j], ++number);
	return 0;
}
