/*
 * Keyed BLAKE2b (RFC 7693) of many short messages in one call.
 *
 * dupmon.pseudonymise hashes one message per row of an export, a few million
 * per run, and a hashlib call per message costs about half a microsecond.
 * This module hashes a whole Arrow column of messages, given as its offsets
 * and data buffers, and returns the digests back to back. They are the bytes
 * that hashlib.blake2b(message, key=key, digest_size=n).digest() returns.
 * keyed_joined_hex hashes four messages of up to two blocks at a time with
 * AVX2. On the benchmark machine a million pair keys of two account hashes
 * (two blocks each) took 0.20 s that way, against 0.48 s one at a time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_buffer_format.h"

#include <stdint.h>
#include <string.h>

#define BLOCK_BYTES 128
#define MAX_KEY_BYTES 64
#define MAX_DIGEST_BYTES 64

static const char HEX_DIGITS[] = "0123456789abcdef";

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

/* The twelve rounds of F: MIXER, the function G of RFC 7693, on the
 * columns and then the diagonals of v, with the words of m that SIGMA picks.
 * The scalar and the vector compress share it. */
#define TWELVE_ROUNDS(MIXER)                                     \
    for (int round = 0; round < 12; round++) {                   \
        const uint8_t *s = SIGMA[round];                         \
        MIXER(0, 4, 8, 12, m[s[0]], m[s[1]]);                    \
        MIXER(1, 5, 9, 13, m[s[2]], m[s[3]]);                    \
        MIXER(2, 6, 10, 14, m[s[4]], m[s[5]]);                   \
        MIXER(3, 7, 11, 15, m[s[6]], m[s[7]]);                   \
        MIXER(0, 5, 10, 15, m[s[8]], m[s[9]]);                   \
        MIXER(1, 6, 11, 12, m[s[10]], m[s[11]]);                 \
        MIXER(2, 7, 8, 13, m[s[12]], m[s[13]]);                  \
        MIXER(3, 4, 9, 14, m[s[14]], m[s[15]]);                  \
    }

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
    TWELVE_ROUNDS(MIX);
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

/* Write the hex digits of a digest. */
static void write_hex(char *hex, const uint8_t *digest, size_t digest_size) {
    for (size_t i = 0; i < digest_size; i++) {
        hex[2 * i] = HEX_DIGITS[digest[i] >> 4];
        hex[2 * i + 1] = HEX_DIGITS[digest[i] & 0x0f];
    }
}

/* Messages of one or two blocks are hashed LANES at a time where the
 * processor has AVX2. Each 64-bit lane of a 256-bit register contains the same
 * word of another message's state, so one instruction works on all four.
 * The tests check that the digests are those of the scalar compress. */
#define LANES 4
/* Blocks of the longest message hashed in lanes. A pair key of two account
 * hashes takes two. */
#define LANE_BLOCKS 2

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LANES_BUILT 1
#include <immintrin.h>

#define ROTATE_32(x) _mm256_shuffle_epi32((x), _MM_SHUFFLE(2, 3, 0, 1))
#define ROTATE_24(x) _mm256_shuffle_epi8((x), by_24)
#define ROTATE_16(x) _mm256_shuffle_epi8((x), by_16)
#define ROTATE_63(x) _mm256_or_si256(_mm256_srli_epi64((x), 63), _mm256_add_epi64((x), (x)))

#define MIX_LANES(a, b, c, d, x, y)                                                \
    do {                                                                           \
        v[a] = _mm256_add_epi64(_mm256_add_epi64(v[a], v[b]), (x));                \
        v[d] = ROTATE_32(_mm256_xor_si256(v[d], v[a]));                            \
        v[c] = _mm256_add_epi64(v[c], v[d]);                                       \
        v[b] = ROTATE_24(_mm256_xor_si256(v[b], v[c]));                            \
        v[a] = _mm256_add_epi64(_mm256_add_epi64(v[a], v[b]), (y));                \
        v[d] = ROTATE_16(_mm256_xor_si256(v[d], v[a]));                            \
        v[c] = _mm256_add_epi64(v[c], v[d]);                                       \
        v[b] = ROTATE_63(_mm256_xor_si256(v[b], v[c]));                            \
    } while (0)

/* Compress one block of each of LANES messages into its state, as compress
 * does for one message. */
__attribute__((target("avx2"))) static void compress_lanes(uint64_t states[LANES][8],
                                                            const uint8_t *blocks[LANES],
                                                            const uint64_t counters[LANES],
                                                            int last) {
    /* Byte shuffles that rotate each 64-bit word right by 24 and 16 bits. */
    const __m256i by_24 = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
                                           3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
    const __m256i by_16 = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
                                           2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
    __m256i m[16], v[16];

    /* Four words of each block at a time, turned so that m[i] contains word
     * i of every block. x86-64 is little-endian, as BLAKE2b's words are. */
    for (int i = 0; i < 16; i += 4) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(blocks[0] + 8 * i));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(blocks[1] + 8 * i));
        __m256i w2 = _mm256_loadu_si256((const __m256i *)(blocks[2] + 8 * i));
        __m256i w3 = _mm256_loadu_si256((const __m256i *)(blocks[3] + 8 * i));
        __m256i low01 = _mm256_unpacklo_epi64(w0, w1), high01 = _mm256_unpackhi_epi64(w0, w1);
        __m256i low23 = _mm256_unpacklo_epi64(w2, w3), high23 = _mm256_unpackhi_epi64(w2, w3);
        m[i] = _mm256_permute2x128_si256(low01, low23, 0x20);
        m[i + 1] = _mm256_permute2x128_si256(high01, high23, 0x20);
        m[i + 2] = _mm256_permute2x128_si256(low01, low23, 0x31);
        m[i + 3] = _mm256_permute2x128_si256(high01, high23, 0x31);
    }
    __m256i start[8];
    for (int i = 0; i < 8; i++) {
        start[i] = _mm256_setr_epi64x((long long)states[0][i], (long long)states[1][i],
                                      (long long)states[2][i], (long long)states[3][i]);
        v[i] = start[i];
        v[i + 8] = _mm256_set1_epi64x((long long)IV[i]);
    }
    v[12] = _mm256_xor_si256(v[12], _mm256_setr_epi64x((long long)counters[0],
                                                       (long long)counters[1],
                                                       (long long)counters[2],
                                                       (long long)counters[3]));
    if (last) {
        v[14] = _mm256_xor_si256(v[14], _mm256_set1_epi64x(-1));
    }

    TWELVE_ROUNDS(MIX_LANES);

    for (int i = 0; i < 8; i++) {
        uint64_t words[LANES];
        __m256i word = _mm256_xor_si256(start[i], _mm256_xor_si256(v[i], v[i + 8]));
        _mm256_storeu_si256((__m256i *)words, word);
        for (int lane = 0; lane < LANES; lane++) {
            states[lane][i] = words[lane];
        }
    }
}
#else
#define LANES_BUILT 0
#endif

/* Return whether this machine can hash LANES messages at a time. */
static int lanes_available(void) {
#if LANES_BUILT
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* Messages of the same number of blocks, waiting to be hashed together. */
typedef struct {
    uint8_t blocks[LANES][LANE_BLOCKS * BLOCK_BYTES];
    size_t lengths[LANES];
    char *hex[LANES];
    int count;
} Waiting;

/* Hash the waiting messages and write their hex digests: all lanes at once
 * when they are full, else one at a time. */
static void hash_waiting(const uint64_t keyed[8], Waiting *waiting, int block_count,
                         size_t digest_size) {
    uint8_t digest[MAX_DIGEST_BYTES];
    (void)block_count; /* Read only where the lanes are built. */
#if LANES_BUILT
    if (waiting->count == LANES) {
        uint64_t counters[LANES], states[LANES][8];
        const uint8_t *blocks[LANES];
        for (int lane = 0; lane < LANES; lane++) {
            memcpy(states[lane], keyed, sizeof states[lane]);
        }
        /* The counter of a block is the bytes hashed so far, the key block
         * and this block included, as in hash_message. */
        for (int block = 0; block < block_count; block++) {
            int last = block == block_count - 1;
            for (int lane = 0; lane < LANES; lane++) {
                blocks[lane] = waiting->blocks[lane] + block * BLOCK_BYTES;
                counters[lane] = BLOCK_BYTES + (last ? waiting->lengths[lane]
                                                     : (uint64_t)(block + 1) * BLOCK_BYTES);
            }
            compress_lanes(states, blocks, counters, last);
        }
        for (int lane = 0; lane < LANES; lane++) {
            uint8_t words[MAX_DIGEST_BYTES];
            for (int i = 0; i < 8; i++) {
                store_le64(words + 8 * i, states[lane][i]);
            }
            write_hex(waiting->hex[lane], words, digest_size);
        }
        waiting->count = 0;
        return;
    }
#endif
    for (int lane = 0; lane < waiting->count; lane++) {
        hash_message(keyed, waiting->blocks[lane], waiting->lengths[lane], digest, digest_size);
        write_hex(waiting->hex[lane], digest, digest_size);
    }
    waiting->count = 0;
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
             "keyed_joined_hex(key, digest_size, prefix, separator, parts, ordered_pair, lanes=True, /) "
             "-> bytes\n"
             "\n"
             "Return the hex keyed BLAKE2b digest of one message per row, back to back.\n"
             "The message of a row is prefix and the row's value of each column, with\n"
             "separator between them, as pyarrow's binary_join_element_wise(prefix,\n"
             "*columns, separator) builds it. parts is a sequence of (offsets, data)\n"
             "tuples, one per column, as in keyed_digests. When ordered_pair is i >= 0,\n"
             "the values of columns i and i + 1 go in byte order, the smaller first, as\n"
             "pyarrow's min_element_wise and max_element_wise return them. With -1 the\n"
             "columns keep their order. prefix must be non-empty. Where LANES is true,\n"
             "messages of up to 256 bytes are hashed four at a time with AVX2, unless\n"
             "lanes is false.");

static PyObject *keyed_joined_hex(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer key = {0}, prefix = {0}, separator = {0};
    Py_buffer offsets[MAX_PARTS], data[MAX_PARTS];
    Py_ssize_t part_count = 0, rows = 0;
    PyObject *result = NULL;
    (void)module;

    if (nargs != 6 && nargs != 7) {
        PyErr_Format(PyExc_TypeError,
                     "keyed_joined_hex() takes 6 or 7 arguments (key, digest_size, prefix, "
                     "separator, parts, ordered_pair, lanes), got %zd",
                     nargs);
        return NULL;
    }
    int lanes = nargs == 7 ? PyObject_IsTrue(args[6]) : 1;
    if (lanes < 0) {
        return NULL;
    }
    lanes = lanes && lanes_available();
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
    /* Messages of one block, and of two. */
    Waiting waiting[LANE_BLOCKS] = {{.count = 0}, {.count = 0}};
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
        /* A message of up to LANE_BLOCKS blocks waits for the other lanes,
         * with its last block zero-filled. */
        int in_lane = lanes && length <= (size_t)LANE_BLOCKS * BLOCK_BYTES;
        int block_count = in_lane ? (int)((length + BLOCK_BYTES - 1) / BLOCK_BYTES) : 0;
        Waiting *queue = in_lane ? &waiting[block_count - 1] : NULL;
        if (!in_lane && length > capacity) {
            uint8_t *grown = realloc(message, length);
            if (grown == NULL) {
                out_of_memory = 1;
                break;
            }
            message = grown;
            capacity = length;
        }
        uint8_t *cursor = in_lane ? queue->blocks[queue->count] : message;
        memcpy(cursor, prefix.buf, (size_t)prefix.len);
        cursor += prefix.len;
        for (Py_ssize_t p = 0; p < part_count; p++) {
            memcpy(cursor, separator.buf, (size_t)separator.len);
            cursor += separator.len;
            memcpy(cursor, values[p], lengths[p]);
            cursor += lengths[p];
        }
        char *hex = out + row * 2 * digest_size;
        if (in_lane) {
            memset(cursor, 0, (size_t)block_count * BLOCK_BYTES - length);
            queue->lengths[queue->count] = length;
            queue->hex[queue->count] = hex;
            if (++queue->count == LANES) {
                hash_waiting(keyed, queue, block_count, (size_t)digest_size);
            }
        } else {
            uint8_t digest[MAX_DIGEST_BYTES];
            hash_message(keyed, message, length, digest, (size_t)digest_size);
            write_hex(hex, digest, (size_t)digest_size);
        }
    }
    for (int blocks = 1; blocks <= LANE_BLOCKS; blocks++) {
        hash_waiting(keyed, &waiting[blocks - 1], blocks, (size_t)digest_size);
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

PyMODINIT_FUNC PyInit__blake2b(void) {
    PyObject *module = PyModule_Create(&module_definition);
    if (module != NULL &&
        PyModule_AddObjectRef(module, "LANES", lanes_available() ? Py_True : Py_False) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
