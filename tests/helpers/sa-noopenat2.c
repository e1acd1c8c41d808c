/*
 * sa-noopenat2.so: an LD_PRELOAD shim that makes a program see a kernel
 * without openat2(2), as Linux before 5.6 (RHEL 8's 4.18), some container
 * seccomp filters and valgrind show it, for the integration tests
 * (tests/integration/harness/fusemount.py, SA_FS_NO_OPENAT2=1).
 *
 *   LD_PRELOAD=build/tests/sa-noopenat2.so sessionarchiverfs ...
 *
 * syscall(SYS_openat2, ...) fails with ENOSYS, or with the errno number
 * in SA_NOOPENAT2_ERRNO (1 for a filter that answers EPERM); every other
 * syscall() goes to the C library's. Built without sanitizers: a sanitized
 * program loads it only with ASAN_OPTIONS=verify_asan_link_order=0.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);

/* set before main(), while the program has one thread: read-only after */
static syscall_fn real_syscall;
static int refusal = ENOSYS;

__attribute__((constructor)) static void shim_init(void)
{
	const char *s = getenv("SA_NOOPENAT2_ERRNO");
	char *end;
	long e;

	real_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	if (!s || !*s)
		return;
	e = strtol(s, &end, 10);
	if (!*end && e > 0 && e < 4096)
		refusal = (int)e;
}

long syscall(long nr, ...)
{
	long a[6];
	va_list ap;

	if (nr == SYS_openat2 || !real_syscall) {
		errno = nr == SYS_openat2 ? refusal : ENOSYS;
		return -1;
	}
	/* no syscall takes more than six arguments, all word-sized */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
