/*
 * Keyed BLAKE2b (RFC 7693) of many short messages in one call.
 *
 * dupmon.pseudonymise hashes one message per row of an export, a few million
 * per run, and a hashlib call per message costs about half a microsecond.
 * This module hashes a whole Arrow column of messages, given as its offsets
 * and data buffers, and returns the digests back to back. They are the bytes
 * that hashlib.blake2b(message, key=key, digest_size=n).digest() returns.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_buffer_format.h"

#include <stdint.h>
#include <string.h>

#define BLOCK_BYTES 128
#define MAX_KEY_BYTES 64
#define MAX_DIGEST_BYTES 64

static const uint64_t IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotate_right(uint64_t word, unsigned bits) {
    return (word >> bits) | (word << (64 - bits));
}

static inline uint64_t load_le64(const uint8_t *bytes) {
    uint64_t word = 0;
    for (int i = 7; i >= 0; i--) {
        word = (word << 8) | bytes[i];
    }
    return word;
}

static inline void store_le64(uint8_t *bytes, uint64_t word) {
    for (int i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(word >> (8 * i));
    }
}

#define MIX(a, b, c, d, x, y)                \
    do {                                     \
        v[a] = v[a] + v[b] + (x);            \
        v[d] = rotate_right(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];                  \
        v[b] = rotate_right(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y);            \
        v[d] = rotate_right(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];                  \
        v[b] = rotate_right(v[b] ^ v[c], 63); \
    } while (0)

/* The compression function F of RFC 7693, section 3.2. `counter` is the
 * number of bytes hashed so far, this block included. Messages here are far
 * shorter than 2^64 bytes, so the high word of the counter stays zero. */
static void compress(uint64_t h[8], const uint8_t block[BLOCK_BYTES], uint64_t counter, int last) {
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) {
        m[i] = load_le64(block + 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = IV[i];
    }
    v[12] ^= counter;
    if (last) {
        v[14] = ~v[14];
    }
    for (int round = 0; round < 12; round++) {
        const uint8_t *s = SIGMA[round];
        MIX(0, 4, 8, 12, m[s[0]], m[s[1]]);
        MIX(1, 5, 9, 13, m[s[2]], m[s[3]]);
        MIX(2, 6, 10, 14, m[s[4]], m[s[5]]);
        MIX(3, 7, 11, 15, m[s[6]], m[s[7]]);
        MIX(0, 5, 10, 15, m[s[8]], m[s[9]]);
        MIX(1, 6, 11, 12, m[s[10]], m[s[11]]);
        MIX(2, 7, 8, 13, m[s[12]], m[s[13]]);
        MIX(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

/* Hash one message, starting from the state after the key block. */
static void hash_message(const uint64_t keyed[8], const uint8_t *message, size_t length,
                         uint8_t *digest, size_t digest_size) {
    uint64_t h[8];
    uint8_t block[BLOCK_BYTES];
    uint8_t words[MAX_DIGEST_BYTES];
    uint64_t counter = BLOCK_BYTES;

    memcpy(h, keyed, sizeof h);
    while (length > BLOCK_BYTES) {
        counter += BLOCK_BYTES;
        compress(h, message, counter, 0);
        message += BLOCK_BYTES;
        length -= BLOCK_BYTES;
    }
    memset(block, 0, sizeof block);
    memcpy(block, message, length);
    counter += length;
    compress(h, block, counter, 1);
    for (int i = 0; i < 8; i++) {
        store_le64(words + 8 * i, h[i]);
    }
    memcpy(digest, words, digest_size);
}

PyDoc_STRVAR(keyed_digests_doc,
             "keyed_digests(key, digest_size, offsets, data, /) -> bytes\n"
             "\n"
             "Return the keyed BLAKE2b digest of every message, back to back.\n"
             "Message i is data[offsets[i]:offsets[i + 1]]. offsets is a numpy int64\n"
             "array, as the offsets of an Arrow large_binary array. Each message must\n"
             "be non-empty and the key 1 to 64 bytes long.");

static PyObject *keyed_digests(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer key = {0}, offsets = {0}, data = {0};
    PyObject *result = NULL;
    Py_ssize_t digest_size;

    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError,
                     "keyed_digests() takes 4 arguments (key, digest_size, offsets, data), got %zd",
                     nargs);
        return NULL;
    }
    digest_size = PyLong_AsSsize_t(args[1]);
    if (digest_size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (digest_size < 1 || digest_size > MAX_DIGEST_BYTES) {
        PyErr_Format(PyExc_ValueError, "invalid digest_size %zd: digest_size must be 1 to 64", digest_size);
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &key, PyBUF_SIMPLE) < 0) {
        goto done;
    }
    if (PyObject_GetBuffer(args[2], &offsets, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        goto done;
    }
    if (PyObject_GetBuffer(args[3], &data, PyBUF_SIMPLE) < 0) {
        goto done;
    }
    if (key.len < 1 || key.len > MAX_KEY_BYTES) {
        PyErr_Format(PyExc_ValueError, "invalid key of %zd bytes: the key must be 1 to 64 bytes long",
                     key.len);
        goto done;
    }
    if (offsets.ndim != 1 || offsets.itemsize != sizeof(int64_t) || !is_int64_format(offsets.format)) {
        PyErr_Format(PyExc_ValueError,
                     "offsets must be a one-dimensional array of 64-bit integers (numpy int64), "
                     "not of format '%s' with %d dimensions of %zd-byte items",
                     offsets.format == NULL ? "B" : offsets.format, offsets.ndim,
                     offsets.itemsize);
        goto done;
    }
    if (offsets.len < (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets must hold at least one 64-bit integer");
        goto done;
    }
    if ((uintptr_t)offsets.buf % sizeof(int64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "offsets must start at an address aligned to 8 bytes");
        goto done;
    }

    Py_ssize_t count = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (count > PY_SSIZE_T_MAX / digest_size) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, count * digest_size);
    if (result == NULL) {
        goto done;
    }

    uint64_t keyed[8];
    uint8_t key_block[BLOCK_BYTES] = {0};
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    const uint8_t *bytes = (const uint8_t *)data.buf;
    /* Another thread may write to the offsets while the lock is released, so
     * each offset is read once, through a volatile pointer, and checked as read. */
    const volatile int64_t *bounds = (const volatile int64_t *)offsets.buf;
    Py_ssize_t invalid = -1;
    int64_t start = 0, end = 0;

    /* Parameter block: digest length, key length, fanout 1, depth 1. */
    for (int i = 0; i < 8; i++) {
        keyed[i] = IV[i];
    }
    keyed[0] ^= 0x01010000ULL ^ ((uint64_t)key.len << 8) ^ (uint64_t)digest_size;
    memcpy(key_block, key.buf, (size_t)key.len);
    /* The key block is never the last one: every message is non-empty. */
    compress(keyed, key_block, BLOCK_BYTES, 0);

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        start = bounds[i];
        end = bounds[i + 1];
        /* Every message must lie inside data, so that no read goes past it. */
        if (start < 0 || end <= start || end > data.len) {
            invalid = i;
            break;
        }
        hash_message(keyed, bytes + start, (size_t)(end - start), out + i * digest_size,
                     (size_t)digest_size);
    }
    Py_END_ALLOW_THREADS

    if (invalid >= 0) {
        Py_CLEAR(result);
        PyErr_Format(PyExc_ValueError,
                     "message %zd: invalid offsets %lld to %lld; each message must be "
                     "non-empty and within the %zd bytes of data",
                     invalid, (long long)start, (long long)end, data.len);
    }

done:
    if (key.obj != NULL) {
        PyBuffer_Release(&key);
    }
    if (offsets.obj != NULL) {
        PyBuffer_Release(&offsets);
    }
    if (data.obj != NULL) {
        PyBuffer_Release(&data);
    }
    return result;
}

/* Columns a joined message may have. pair_keys joins at most three. */
#define MAX_PARTS 8

static const char HEX_DIGITS[] = "0123456789abcdef";

/* Take the (offsets, data) pairs of the columns of keyed_joined_hex and
 * check their buffers. Returns the number of rows, or -1 with an exception
 * set. */
static Py_ssize_t get_parts(PyObject *parts, Py_buffer *offsets, Py_buffer *data,
                            Py_ssize_t *part_count) {
    Py_ssize_t rows = -1;
    PyObject *sequence = PySequence_Fast(parts, "parts must be a sequence of (offsets, data) pairs");
    if (sequence == NULL) {
        return -1;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    if (count < 1 || count > MAX_PARTS) {
        PyErr_Format(PyExc_ValueError, "parts must hold 1 to %d columns, not %zd", MAX_PARTS,
                     count);
        goto done;
    }
    for (Py_ssize_t p = 0; p < count; p++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(sequence, p);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_TypeError, "part %zd must be an (offsets, data) tuple", p);
            goto done;
        }
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(pair, 0), &offsets[p],
                               PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            goto done;
        }
        *part_count = p + 1;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(pair, 1), &data[p], PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&offsets[p]);
            *part_count = p;
            goto done;
        }
        const Py_buffer *view = &offsets[p];
        if (view->ndim != 1 || view->itemsize != sizeof(int64_t) ||
            !is_int64_format(view->format) || view->len < (Py_ssize_t)sizeof(int64_t) ||
            (uintptr_t)view->buf % sizeof(int64_t) != 0) {
            PyErr_Format(PyExc_ValueError,
                         "the offsets of part %zd must be a one-dimensional, 8-byte aligned "
                         "array of at least one 64-bit integer (numpy int64)",
                         p);
            goto done;
        }
        Py_ssize_t own_rows = view->len / (Py_ssize_t)sizeof(int64_t) - 1;
        if (p > 0 && own_rows != rows) {
            PyErr_Format(PyExc_ValueError, "part %zd has %zd rows, part 0 has %zd", p, own_rows,
                         rows);
            rows = -1;
            goto done;
        }
        rows = own_rows;
    }
    Py_DECREF(sequence);
    return rows;
done:
    Py_DECREF(sequence);
    return -1;
}

PyDoc_STRVAR(keyed_joined_hex_doc,
             "keyed_joined_hex(key, digest_size, prefix, separator, parts, ordered_pair, /) "
             "-> bytes\n"
             "\n"
             "Return the hex keyed BLAKE2b digest of one message per row, back to back.\n"
             "The message of a row is prefix and the row's value of each column, with\n"
             "separator between them, as pyarrow's binary_join_element_wise(prefix,\n"
             "*columns, separator) builds it. parts is a sequence of (offsets, data)\n"
             "tuples, one per column, as in keyed_digests. When ordered_pair is i >= 0,\n"
             "the values of columns i and i + 1 go in byte order, the smaller first, as\n"
             "pyarrow's min_element_wise and max_element_wise return them. With -1 the\n"
             "columns keep their order. prefix must be non-empty.");

static PyObject *keyed_joined_hex(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer key = {0}, prefix = {0}, separator = {0};
    Py_buffer offsets[MAX_PARTS], data[MAX_PARTS];
    Py_ssize_t part_count = 0, rows = 0;
    PyObject *result = NULL;
    (void)module;

    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError,
                     "keyed_joined_hex() takes 6 arguments (key, digest_size, prefix, separator, "
                     "parts, ordered_pair), got %zd",
                     nargs);
        return NULL;
    }
    Py_ssize_t digest_size = PyLong_AsSsize_t(args[1]);
    if (digest_size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (digest_size < 1 || digest_size > MAX_DIGEST_BYTES) {
        PyErr_Format(PyExc_ValueError, "invalid digest_size %zd: digest_size must be 1 to 64",
                     digest_size);
        return NULL;
    }
    Py_ssize_t ordered = PyLong_AsSsize_t(args[5]);
    if (ordered == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &key, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(args[2], &prefix, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(args[3], &separator, PyBUF_SIMPLE) < 0) {
        goto done;
    }
    if (key.len < 1 || key.len > MAX_KEY_BYTES) {
        PyErr_Format(PyExc_ValueError,
                     "invalid key of %zd bytes: the key must be 1 to 64 bytes long", key.len);
        goto done;
    }
    if (prefix.len < 1) {
        PyErr_SetString(PyExc_ValueError, "the prefix must be non-empty");
        goto done;
    }
    rows = get_parts(args[4], offsets, data, &part_count);
    if (rows < 0) {
        goto done;
    }
    if (ordered < -1 || ordered > part_count - 2) {
        PyErr_Format(PyExc_ValueError,
                     "invalid ordered_pair %zd: it must be -1 or a column index below %zd",
                     ordered, part_count - 1);
        goto done;
    }
    if (rows > PY_SSIZE_T_MAX / (2 * digest_size)) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, rows * 2 * digest_size);
    if (result == NULL) {
        goto done;
    }

    uint64_t keyed[8];
    uint8_t key_block[BLOCK_BYTES] = {0};
    for (int i = 0; i < 8; i++) {
        keyed[i] = IV[i];
    }
    keyed[0] ^= 0x01010000ULL ^ ((uint64_t)key.len << 8) ^ (uint64_t)digest_size;
    memcpy(key_block, key.buf, (size_t)key.len);
    /* The key block is never the last one: every message holds the prefix. */
    compress(keyed, key_block, BLOCK_BYTES, 0);

    char *out = PyBytes_AS_STRING(result);
    Py_ssize_t invalid_row = -1, invalid_part = -1;
    int64_t invalid_start = 0, invalid_end = 0;
    int out_of_memory = 0;
    uint8_t *message = NULL;
    size_t capacity = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = 0; row < rows && invalid_row < 0 && !out_of_memory; row++) {
        const uint8_t *values[MAX_PARTS];
        size_t lengths[MAX_PARTS];
        size_t length = (size_t)prefix.len;
        for (Py_ssize_t p = 0; p < part_count; p++) {
            /* Another thread may write to the offsets while the lock is
             * released, so each offset is read once and checked as read. */
            const volatile int64_t *bounds = (const volatile int64_t *)offsets[p].buf;
            int64_t start = bounds[row], end = bounds[row + 1];
            if (start < 0 || end < start || end > data[p].len) {
                invalid_row = row;
                invalid_part = p;
                invalid_start = start;
                invalid_end = end;
                break;
            }
            values[p] = (const uint8_t *)data[p].buf + start;
            lengths[p] = (size_t)(end - start);
            length += (size_t)separator.len + lengths[p];
        }
        if (invalid_row >= 0) {
            break;
        }
        if (ordered >= 0) {
            size_t first = lengths[ordered], second = lengths[ordered + 1];
            int order = memcmp(values[ordered], values[ordered + 1], first < second ? first : second);
            if (order > 0 || (order == 0 && first > second)) {
                const uint8_t *value = values[ordered];
                values[ordered] = values[ordered + 1];
                values[ordered + 1] = value;
                lengths[ordered] = second;
                lengths[ordered + 1] = first;
            }
        }
        if (length > capacity) {
            uint8_t *grown = realloc(message, length);
            if (grown == NULL) {
                out_of_memory = 1;
                break;
            }
            message = grown;
            capacity = length;
        }
        uint8_t *cursor = message;
        memcpy(cursor, prefix.buf, (size_t)prefix.len);
        cursor += prefix.len;
        for (Py_ssize_t p = 0; p < part_count; p++) {
            memcpy(cursor, separator.buf, (size_t)separator.len);
            cursor += separator.len;
            memcpy(cursor, values[p], lengths[p]);
            cursor += lengths[p];
        }
        uint8_t digest[MAX_DIGEST_BYTES];
        hash_message(keyed, message, length, digest, (size_t)digest_size);
        char *hex = out + row * 2 * digest_size;
        for (Py_ssize_t i = 0; i < digest_size; i++) {
            hex[2 * i] = HEX_DIGITS[digest[i] >> 4];
            hex[2 * i + 1] = HEX_DIGITS[digest[i] & 0x0f];
        }
    }
    free(message);
    Py_END_ALLOW_THREADS
    if (out_of_memory) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    } else if (invalid_row >= 0) {
        Py_CLEAR(result);
        PyErr_Format(PyExc_ValueError,
                     "row %zd of part %zd: invalid offsets %lld to %lld; each value must lie "
                     "within the %zd bytes of its data",
                     invalid_row, invalid_part, (long long)invalid_start,
                     (long long)invalid_end, data[invalid_part].len);
    }
done:
    for (Py_ssize_t p = 0; p < part_count; p++) {
        PyBuffer_Release(&offsets[p]);
        PyBuffer_Release(&data[p]);
    }
    if (key.obj != NULL) {
        PyBuffer_Release(&key);
    }
    if (prefix.obj != NULL) {
        PyBuffer_Release(&prefix);
    }
    if (separator.obj != NULL) {
        PyBuffer_Release(&separator);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"keyed_digests", (PyCFunction)(void (*)(void))keyed_digests, METH_FASTCALL, keyed_digests_doc},
    {"keyed_joined_hex", (PyCFunction)(void (*)(void))keyed_joined_hex, METH_FASTCALL,
     keyed_joined_hex_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    "dupmon._blake2b",
    "Keyed BLAKE2b of many messages in one call; see keyed_digests and keyed_joined_hex.",
    0,
    methods,
};

PyMODINIT_FUNC PyInit__blake2b(void) { return PyModule_Create(&module_definition); }
