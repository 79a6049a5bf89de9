/*
 * Buffer checks shared by dupmon's C modules: integer formats, and the
 * offsets and data of a string column.
 */
#ifndef DUPMON_BUFFER_FORMAT_H
#define DUPMON_BUFFER_FORMAT_H

#include <Python.h>

#include <stdint.h>
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

/* A column of strings: string i is data[offsets[i]:offsets[i + 1]]. */
typedef struct {
    Py_buffer offsets;
    Py_buffer data;
    Py_ssize_t count;
} Strings;

/* Take the offsets and data of a string column and check that every string
 * lies inside the data. Returns 0, or -1 with an exception set. */
static inline int get_strings(PyObject *offsets, PyObject *data, const char *name,
                              Strings *strings) {
    if (PyObject_GetBuffer(offsets, &strings->offsets, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return -1;
    }
    if (PyObject_GetBuffer(data, &strings->data, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    const Py_buffer *view = &strings->offsets;
    if (view->ndim != 1 || view->itemsize != sizeof(int64_t) || !is_int64_format(view->format)) {
        PyErr_Format(PyExc_ValueError,
                     "the offsets of %s must be a one-dimensional array of 64-bit integers "
                     "(numpy int64), not of format '%s' with %d dimensions of %zd-byte items",
                     name, view->format == NULL ? "B" : view->format, view->ndim, view->itemsize);
        return -1;
    }
    if (view->len < (Py_ssize_t)sizeof(int64_t)) {
        PyErr_Format(PyExc_ValueError, "the offsets of %s must hold at least one integer", name);
        return -1;
    }
    if ((uintptr_t)view->buf % sizeof(int64_t) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "the offsets of %s must start at an address aligned to 8 bytes", name);
        return -1;
    }
    strings->count = view->len / (Py_ssize_t)sizeof(int64_t) - 1;
    const int64_t *bounds = (const int64_t *)view->buf;
    for (Py_ssize_t i = 0; i < strings->count; i++) {
        if (bounds[i] < 0 || bounds[i + 1] < bounds[i] || bounds[i + 1] > strings->data.len) {
            PyErr_Format(PyExc_ValueError,
                         "string %zd of %s: invalid offsets %lld to %lld; each string must lie "
                         "within the %zd bytes of data",
                         i, name, (long long)bounds[i], (long long)bounds[i + 1],
                         strings->data.len);
            return -1;
        }
    }
    return 0;
}

static inline void release_strings(Strings *strings) {
    if (strings->offsets.obj != NULL) {
        PyBuffer_Release(&strings->offsets);
    }
    if (strings->data.obj != NULL) {
        PyBuffer_Release(&strings->data);
    }
}

#endif
