/* The one-line error message of a parser, written into the caller's buffer. */
#ifndef FIM_SET_ERR_H
#define FIM_SET_ERR_H

#include <stdarg.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4)))
static inline void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif
