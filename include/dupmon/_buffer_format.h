/*
 * Checks of buffer formats shared by dupmon's C modules.
 */
#ifndef DUPMON_BUFFER_FORMAT_H
#define DUPMON_BUFFER_FORMAT_H

#include <Python.h>

#include <string.h>

/* Whether a buffer format is 'q' or 'l' in this machine's byte order. The
 * caller checks the item size, since 'l' is 4 bytes on some platforms. */
static inline int is_int64_format(const char *format) {
    if (format == NULL) {
        return 0;
    }
#if PY_LITTLE_ENDIAN
    const char own_order = '<';
#else
    const char own_order = '>';
#endif
    if (*format == '@' || *format == '=' || *format == own_order) {
        format++;
    }
    return strcmp(format, "q") == 0 || strcmp(format, "l") == 0;
}

#endif
