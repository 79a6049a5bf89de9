/*
 * Positions of many strings in a set of strings, as pyarrow.compute.index_in
 * returns them, with a hash table that points into the caller's buffers.
 *
 * pyarrow's index_in copies every string of the set into its own table.
 * For a million keyed hashes of 64 characters that is a quarter of a
 * gigabyte of fresh memory, and on the machine the benchmark runs on fresh
 * memory costs more system time than the lookup itself. This table keeps
 * only a 64-bit hash and a position per slot, 16 bytes per slot at a load of
 * at most one half, and compares the strings where they lie.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_buffer_format.h"

#include <stdint.h>
#include <string.h>

/* A slot whose position is this is empty. */
#define EMPTY_SLOT (-1)

typedef struct {
    uint64_t hash;
    int64_t position;
} Slot;

typedef struct {
    Py_buffer offsets;
    Py_buffer data;
    Py_ssize_t count;
} Strings;

/* The output function of Sebastiano Vigna's splitmix64.c (2015, public
 * domain), which spreads every input bit over the whole word. */
static inline uint64_t mix(uint64_t word) {
    word ^= word >> 30;
    word *= 0xbf58476d1ce4e5b9ULL;
    word ^= word >> 27;
    word *= 0x94d049bb133111ebULL;
    word ^= word >> 31;
    return word;
}

/* Hash a string eight bytes at a time. The seed comes from the caller, so
 * that the slots of crafted strings cannot be chosen in advance. */
static uint64_t hash_bytes(const uint8_t *bytes, size_t length, uint64_t seed) {
    uint64_t hash = mix(seed ^ (uint64_t)length);
    size_t whole = length / 8;
    for (size_t i = 0; i < whole; i++) {
        uint64_t word;
        memcpy(&word, bytes + 8 * i, 8);
        hash = mix(hash ^ word);
    }
    size_t rest = length % 8;
    if (rest) {
        uint64_t word = 0;
        memcpy(&word, bytes + 8 * whole, rest);
        hash = mix(hash ^ word ^ ((uint64_t)rest << 56));
    }
    return hash;
}

/* Take the offsets and data of a string column and check that every string
 * lies inside the data. Returns 0, or -1 with an exception set. */
static int get_strings(PyObject *offsets, PyObject *data, const char *name, Strings *strings) {
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

static void release_strings(Strings *strings) {
    if (strings->offsets.obj != NULL) {
        PyBuffer_Release(&strings->offsets);
    }
    if (strings->data.obj != NULL) {
        PyBuffer_Release(&strings->data);
    }
}

static inline int same_string(const Strings *first, Py_ssize_t i, const Strings *second,
                              int64_t j) {
    const int64_t *a = (const int64_t *)first->offsets.buf;
    const int64_t *b = (const int64_t *)second->offsets.buf;
    int64_t length = a[i + 1] - a[i];
    if (length != b[j + 1] - b[j]) {
        return 0;
    }
    return memcmp((const uint8_t *)first->data.buf + a[i],
                  (const uint8_t *)second->data.buf + b[j], (size_t)length) == 0;
}

PyDoc_STRVAR(index_in_doc,
             "index_in(offsets, data, set_offsets, set_data, seed, /) -> bytes\n"
             "\n"
             "Return, for each string, the position of its first occurrence in the set,\n"
             "or -1, as native int64 values back to back. String i is\n"
             "data[offsets[i]:offsets[i + 1]], and the set is given the same way.\n"
             "The offsets are numpy int64 arrays, as those of an Arrow large_binary\n"
             "array. seed is an unsigned 64-bit integer that varies the hash.");

static PyObject *index_in(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Strings values = {0}, set = {0};
    Slot *slots = NULL;
    PyObject *result = NULL;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError,
                     "index_in() takes 5 arguments (offsets, data, set_offsets, set_data, seed), "
                     "got %zd",
                     nargs);
        return NULL;
    }
    uint64_t seed = PyLong_AsUnsignedLongLongMask(args[4]);
    if (seed == (uint64_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    if (get_strings(args[0], args[1], "the values", &values) < 0 ||
        get_strings(args[2], args[3], "the set", &set) < 0) {
        goto done;
    }
    /* A power of two of at least twice the set's size keeps the load at
     * most one half, so that a lookup probes few slots. */
    size_t capacity = 16;
    while (capacity < 2 * (size_t)set.count) {
        if (capacity > SIZE_MAX / 2 / sizeof(Slot)) {
            PyErr_NoMemory();
            goto done;
        }
        capacity *= 2;
    }
    slots = PyMem_Malloc(capacity * sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, values.count * (Py_ssize_t)sizeof(int64_t));
    if (result == NULL) {
        goto done;
    }
    size_t mask = capacity - 1;
    for (size_t i = 0; i < capacity; i++) {
        slots[i].position = EMPTY_SLOT;
    }
    const int64_t *set_bounds = (const int64_t *)set.offsets.buf;
    const uint8_t *set_bytes = (const uint8_t *)set.data.buf;
    for (Py_ssize_t j = 0; j < set.count; j++) {
        uint64_t hash = hash_bytes(set_bytes + set_bounds[j],
                                   (size_t)(set_bounds[j + 1] - set_bounds[j]), seed);
        size_t slot = (size_t)hash & mask;
        /* Linear probing. A string already in the table keeps its slot, so
         * the first occurrence wins, as in pyarrow's index_in. */
        while (slots[slot].position != EMPTY_SLOT &&
               !(slots[slot].hash == hash && same_string(&set, j, &set, slots[slot].position))) {
            slot = (slot + 1) & mask;
        }
        if (slots[slot].position == EMPTY_SLOT) {
            slots[slot].hash = hash;
            slots[slot].position = j;
        }
    }
    int64_t *positions = (int64_t *)PyBytes_AS_STRING(result);
    const int64_t *bounds = (const int64_t *)values.offsets.buf;
    const uint8_t *bytes = (const uint8_t *)values.data.buf;
    for (Py_ssize_t i = 0; i < values.count; i++) {
        uint64_t hash = hash_bytes(bytes + bounds[i], (size_t)(bounds[i + 1] - bounds[i]), seed);
        size_t slot = (size_t)hash & mask;
        int64_t found = -1;
        while (slots[slot].position != EMPTY_SLOT) {
            if (slots[slot].hash == hash && same_string(&values, i, &set, slots[slot].position)) {
                found = slots[slot].position;
                break;
            }
            slot = (slot + 1) & mask;
        }
        positions[i] = found;
    }
done:
    PyMem_Free(slots);
    release_strings(&values);
    release_strings(&set);
    if (PyErr_Occurred()) {
        Py_CLEAR(result);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"index_in", (PyCFunction)(void (*)(void))index_in, METH_FASTCALL, index_in_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    "dupmon._lookup",
    "Positions of many strings in a set of strings; see index_in.",
    0,
    methods,
};

PyMODINIT_FUNC PyInit__lookup(void) { return PyModule_Create(&module_definition); }
