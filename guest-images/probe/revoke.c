// SPDX-License-Identifier: GPL-2.0-only
/*
 * Revocation (3234ac664a87 for /dev/mem, 636b21b50152 for PCI sysfs and procfs):
 * mappings of an idle BAR must stop reaching the device when its driver claims it.
 */
#include <linux/pci.h>
#include <sys/ioctl.h>

#include "probe.h"

/*
 * Revocation, as one experiment seen through seven mappings of the spare device's
 * idle memory BAR, each covering the whole BAR: /dev/mem, resourceN and
 * /proc/bus/pci/BB/DD.F (shared), and through /dev/mem and procfs alike a
 * MAP_PRIVATE mapping written first (its pages are now private copies) and a
 * forked child's inherited copy of a mapping (the parent unmaps its own).  Then bind the driver (one driver probe: under TCG a third of a second)
 * and touch each mapping in its first and its last page.  devmem.revoke.bar-on-bind
 * reports the first view and leaves the others in stash files for the probes named
 * after them; each of those runs the experiment alone when nothing was stashed.
 */
enum { V_DEVMEM, V_SYSFS, V_PRIVATE, V_CHILD, V_PROCFS, V_PROCFS_PRIVATE, V_PROCFS_CHILD, NVIEWS };
static const char *const view_probe[NVIEWS] = {
	"devmem.revoke.bar-on-bind", "pcisysfs.revoke.bar-on-bind", "devmem.revoke.private-cow",
	"devmem.revoke.forked-child", "pciprocfs.revoke.bar-on-bind", "pciprocfs.revoke.private-cow",
	"pciprocfs.revoke.forked-child",
};

static int is_procfs(int which)
{
	return which == V_PROCFS || which == V_PROCFS_PRIVATE || which == V_PROCFS_CHILD;
}

struct view {
	char path[700];
	unsigned long offset;
	size_t len;
	volatile unsigned char *map;
	pid_t child;
	int go, result; /* the child's pipes: told to touch, reports what it saw */
	char skip[600];
	char obs[1200];
};

static int touch_write(volatile uint32_t *p, uint32_t value)
{
	return touch(p, &value, 1);
}

/* Touch the first and the last page; "outcome=... revoked=yes|partly|no first=... last=...". */
static void touch_ends(volatile unsigned char *map, size_t len, char *out, size_t size)
{
	uint32_t v;
	int first = touch_read((volatile uint32_t *)map, &v);
	int last = touch_read((volatile uint32_t *)(map + len - PAGE), &v);
	const char *revoked = first == SIGBUS && last == SIGBUS ? "yes" : (first == SIGBUS || last == SIGBUS ? "partly" : "no");

	snprintf(out, size, "outcome=%s revoked=%s first=%s last=%s", first == last ? (first ? signame(first) : "ok") : "ok",
		 revoked, first ? signame(first) : "ok", last ? signame(last) : "ok");
}

/* The forked child: waits for the bind, touches its inherited mapping, reports, exits. */
static void child_holder(struct view *v, int go, int result)
{
	char c, out[200];

	if (read(go, &c, 1) == 1)
		touch_ends(v->map, v->len, out, sizeof(out));
	else
		snprintf(out, sizeof(out), "outcome=harness-error step=child-wait");
	if (write(result, out, strlen(out)) < 0)
		_exit(3);
	_exit(0);
}

static void view_map(struct view *v, int which, const struct spare *s)
{
	int fd, sig, go[2], result[2];
	int private = which == V_PRIVATE || which == V_PROCFS_PRIVATE;
	volatile uint32_t *first, *last;
	uint32_t scratch;

	fd = open(v->path, O_RDWR | O_SYNC);
	if (fd < 0) {
		const char *e = errname(errno);

		char path[sizeof(v->path)];

		memcpy(path, v->path, sizeof(path)); /* not an argument that overlaps the struct written */
		snprintf(v->skip, sizeof(v->skip), "open(%.500s) refused: %s", path, e);
		snprintf(v->obs, sizeof(v->obs), "skip=open path=%s errno=%s", path, e);
		return;
	}
	if (is_procfs(which) && ioctl(fd, PCIIOC_MMAP_IS_MEM) < 0) /* procfs maps I/O space unless told */
		snprintf(v->obs, sizeof(v->obs), "ioctl=%s ", errname(errno));
	v->map = mmap(NULL, v->len, PROT_READ | (private ? PROT_WRITE : 0), private ? MAP_PRIVATE : MAP_SHARED, fd,
		      (off_t)v->offset);
	close(fd);
	if (v->map == MAP_FAILED) {
		v->map = NULL;
		size_t used = strlen(v->obs);

		snprintf(v->obs + used, sizeof(v->obs) - used, "outcome=%s call=mmap step=map device=%s", errname(errno),
			 s->dev);
		return;
	}
	/* Private: write both ends, so both are copies the device never sees; shared: read them. */
	first = (volatile uint32_t *)v->map;
	last = (volatile uint32_t *)(v->map + v->len - PAGE);
	sig = private ? touch_write(first, 0) : touch_read(first, &scratch);
	if (!sig)
		sig = private ? touch_write(last, 0) : touch_read(last, &scratch);
	if (!sig && (which == V_CHILD || which == V_PROCFS_CHILD)) {
		if (pipe(go) != 0 || pipe(result) != 0) {
			snprintf(v->obs, sizeof(v->obs), "outcome=harness-error call=pipe");
		} else if ((v->child = fork()) < 0) {
			snprintf(v->obs, sizeof(v->obs), "outcome=harness-error call=fork errno=%s", errname(errno));
		} else if (v->child == 0) {
			close(go[1]);
			close(result[0]);
			child_holder(v, go[0], result[1]);
		} else {
			close(go[0]);
			close(result[1]);
			v->go = go[1];
			v->result = result[0];
			munmap((void *)v->map, v->len); /* only the child holds the mapping now */
			v->map = NULL;
			return;
		}
	}
	if (sig)
		snprintf(v->obs, sizeof(v->obs), "outcome=%s call=mmap step=touch-idle device=%s", signame(sig), s->dev);
	if (sig || strstr(v->obs, "outcome=")) {
		munmap((void *)v->map, v->len);
		v->map = NULL;
	}
}

static void view_touch_after_bind(struct view *v, const struct spare *s)
{
	char seen[200] = "";

	if (v->child > 0) {
		ssize_t n;

		if (write(v->go, "g", 1) == 1 && (n = read(v->result, seen, sizeof(seen) - 1)) > 0)
			seen[n] = 0;
		close(v->go);
		close(v->result);
		waitpid(v->child, NULL, 0);
		v->child = 0;
		if (!seen[0])
			snprintf(seen, sizeof(seen), "outcome=killed step=child");
	} else if (v->map) {
		touch_ends(v->map, v->len, seen, sizeof(seen));
		munmap((void *)v->map, v->len);
		v->map = NULL;
	} else {
		return;
	}
	snprintf(v->obs, sizeof(v->obs), "%s call=mmap step=touch-after-bind device=%s spare=%s driver=%s len=%zu", seen,
		 s->dev, spare_name, s->driver, v->len);
}

static void report_view(const struct view *v)
{
	if (v->obs[0])
		observe("%s", v->obs);
	if (v->skip[0])
		snprintf(skip_reason, sizeof(skip_reason), "%s", v->skip);
}

/* All views (`only` < 0, stashing all but the first) or just view `only`, reported by its probe. */
static void revoke_experiment(int only)
{
	struct view views[NVIEWS];
	struct spare s;
	int any = 0;

	memset(views, 0, sizeof(views));
	if (spare_in_state(&s, 0) < 0)
		return;
	/*
	 * The child is forked before the private view is written: fork() of a process holding a
	 * written MAP_PRIVATE /dev/mem mapping fails (ENOMEM) under PAT, which cannot tell the
	 * copied pages' cache mode (arch/x86/mm/pat/memtype.c: get_pat_info(), track_pfn_copy()).
	 */
	static const int order[NVIEWS] = { V_DEVMEM, V_SYSFS, V_PROCFS, V_CHILD, V_PROCFS_CHILD, V_PRIVATE,
					   V_PROCFS_PRIVATE };

	for (int k = 0; k < NVIEWS; k++) {
		int i = order[k];

		if (i == V_SYSFS)
			snprintf(views[i].path, sizeof(views[i].path), "/sys/bus/pci/devices/%s/resource%d", s.dev, s.mem_bar);
		else if (is_procfs(i))
			procfs_path(&s, views[i].path, sizeof(views[i].path));
		else
			snprintf(views[i].path, sizeof(views[i].path), DEVMEM);
		views[i].offset = i == V_SYSFS ? 0 : s.mem_start;
		views[i].len = page_up(s.mem_end + 1 - s.mem_start);
		if (only < 0 || only == i) {
			view_map(&views[i], i, &s);
			any |= views[i].map != NULL || views[i].child > 0;
		}
	}
	if (any && spare_bind(&s) < 0) {
		/* spare_bind() recorded why for this probe; the stashed views get it too, and nothing is touched. */
		for (int i = 0; i < NVIEWS; i++) {
			snprintf(views[i].skip, sizeof(views[i].skip), "%s", skip_reason);
			snprintf(views[i].obs, sizeof(views[i].obs), "%s", observe_buf);
			if (views[i].map)
				munmap((void *)views[i].map, views[i].len);
			views[i].map = NULL;
			if (views[i].child > 0) {
				kill(views[i].child, SIGKILL);
				waitpid(views[i].child, NULL, 0);
				views[i].child = 0;
			}
		}
	}
	for (int i = 0; i < NVIEWS; i++)
		view_touch_after_bind(&views[i], &s);
	if (only >= 0) {
		report_view(&views[only]);
		return;
	}
	for (int i = 1; i < NVIEWS; i++) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "/tmp/revoke-%s.observation", view_probe[i]);
		if ((f = fopen(path, "w"))) {
			fprintf(f, "%s\n%s\n", views[i].skip, views[i].obs);
			fclose(f);
		}
	}
	if (!skip_reason[0])
		report_view(&views[V_DEVMEM]);
}

void p_devmem_revoke(void)
{
	revoke_experiment(-1);
}

/* A view's probe: what the experiment stashed for it, or the experiment with this view alone. */
static void revoke_view(int which)
{
	char path[128], skip_line[600] = "", obs_line[1200] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/revoke-%s.observation", view_probe[which]);
	if (!(f = fopen(path, "r"))) {
		revoke_experiment(which);
		return;
	}
	if (fgets(skip_line, sizeof(skip_line), f) && fgets(obs_line, sizeof(obs_line), f)) {
		skip_line[strcspn(skip_line, "\n")] = 0;
		obs_line[strcspn(obs_line, "\n")] = 0;
	}
	fclose(f);
	unlink(path);
	if (obs_line[0])
		observe("%s", obs_line);
	if (skip_line[0])
		snprintf(skip_reason, sizeof(skip_reason), "%s", skip_line);
}

void p_pcisysfs_revoke(void)
{
	revoke_view(V_SYSFS);
}

void p_devmem_revoke_private(void)
{
	revoke_view(V_PRIVATE);
}

void p_devmem_revoke_child(void)
{
	revoke_view(V_CHILD);
}

void p_pciprocfs_revoke(void)
{
	revoke_view(V_PROCFS);
}

void p_pciprocfs_revoke_private(void)
{
	revoke_view(V_PROCFS_PRIVATE);
}

void p_pciprocfs_revoke_child(void)
{
	revoke_view(V_PROCFS_CHILD);
}
