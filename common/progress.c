/*
 * The terminal progress bar: items, bytes, rate-based ETA and what is being
 * worked on. Drawing is throttled so that a fast loop pays nothing.
 */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "printable.h"
#include "xalloc.h"

struct progress {
	char *label;
	int64_t total_items, total_bytes;
	double started, last_draw;
	int width;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress *progress_new(const char *label, int64_t total_items,
			      int64_t total_bytes, bool quiet)
{
	struct progress *p;
	struct winsize ws;

	if (quiet || !isatty(STDERR_FILENO))
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->label = printable_dup(label, 0);
	p->total_items = total_items;
	p->total_bytes = total_bytes;
	p->started = now_s();
	p->width = 80;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		p->width = ws.ws_col;
	return p;
}

static void human(int64_t bytes, char *out, size_t len)
{
	const char *units[] = { "B", "KB", "MB", "GB", "TB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1000 && u < 4)
		v /= 1000, u++;
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void progress_update(struct progress *p, int64_t done_items,
		     int64_t done_bytes, const char *current)
{
	char line[512], bytes[32], eta[32] = "", cur[256];
	double t, frac, elapsed;
	int n, bar = 20, fill;

	if (!p)
		return;
	t = now_s();
	if (t - p->last_draw < 0.1 && done_items < p->total_items)
		return;
	p->last_draw = t;
	frac = p->total_items > 0 ? (double)done_items / (double)p->total_items
				  : 0;
	if (p->total_bytes > 0)
		frac = (double)done_bytes / (double)p->total_bytes;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * bar);
	elapsed = t - p->started;
	if (frac > 0.01 && frac < 1) {
		int s = (int)(elapsed / frac - elapsed);
		snprintf(eta, sizeof(eta), " ETA %d:%02d:%02d", s / 3600,
			 s / 60 % 60, s % 60);
	}
	human(done_bytes, bytes, sizeof(bytes));
	/* course names: an ESC in one must not drive the terminal */
	printable_copy(current ? current : "", current ? strlen(current) : 0,
		       0, cur, sizeof(cur));
	n = snprintf(line, sizeof(line), "%s [%.*s%.*s] %lld/%lld %s%s %s",
		     p->label, fill, "####################", bar - fill,
		     "                    ", (long long)done_items,
		     (long long)p->total_items, bytes, eta, cur);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (n > p->width - 1)
		n = p->width - 1;
	if (n < 0)
		n = 0;
	/* cut between characters, not inside one */
	while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
		n--;
	fprintf(stderr, "\r%.*s\033[K", n, line);
}

void progress_end(struct progress *p)
{
	if (!p)
		return;
	fputs("\r\033[K", stderr);
	free(p->label);
	free(p);
}
