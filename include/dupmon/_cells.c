/*
 * Scans of text columns that would otherwise take a regular expression.
 *
 * untidy marks the cells that dupmon.text_arrays leaves to the scalar
 * clean-up: a character outside the safe ranges, two spaces in a row, or a
 * space at either end. RE2 took about 0.09 s per file of 250 thousand rows
 * on the benchmark machine to mark the cells of all its columns, this scan
 * about 0.04 s. With AVX2, runs of 16 cells are checked 32 bytes at a time
 * first, and only a run with an untidy cell is scanned one character at a
 * time: 3 ms in place of 14 ms for the 12 MB of pupil names in such a file,
 * on the Intel machine of docs/benchmarks.md.
 *
 * one_range reads the intersection cells that hold exactly one range:
 * "2.09.2024 - 15.10.2024 (s123)", the account in brackets optional. The
 * rule is the regular expression dupmon.staging._ONE_RANGE as RE2 runs
 * it, and the tests compare the two on many made-up cells. A day and a
 * month are one or two ASCII digits, and a year is four. The dash is "-" or
 * one of U+2010 to U+2014. A space is one of RE2's \s: tab, line feed, form
 * feed, carriage return and the space. The account is what lies between the
 * brackets, without the spaces at either end, and may hold no bracket.
 * The brackets close the cell. RE2 took 0.12 s per 250 thousand cells on
 * the benchmark machine to extract the groups, this loop about 0.01 s.
 *
 * utf8_valid checks whether a whole CSV export is UTF-8 before pyarrow
 * parses it, with AVX2 where the processor has it. pyarrow's check of each
 * value took 0.11 s of CPU time on a 99 MB export, this scan 0.007 s.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_buffer_format.h"

#include <stdint.h>
#include <string.h>

/* Bits of a row's flags. */
#define MATCHED 1
#define START_OK 2
#define END_OK 4
/* "dd.mm.yyyy - dd.mm.yyyy", the range as format_date writes it. */
#define SHOWN_BYTES 23

typedef struct {
    const uint8_t *day, *month, *year;
    int day_digits, month_digits;
} DateText;

static inline int is_space(uint8_t byte) {
    return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\f' || byte == '\r';
}

static inline int is_digit(uint8_t byte) { return byte >= '0' && byte <= '9'; }

static inline size_t skip_spaces(const uint8_t *text, size_t length, size_t at) {
    while (at < length && is_space(text[at])) {
        at++;
    }
    return at;
}

/* Read one or two digits and a dot at text[*at]. Returns the number of
 * digits, or 0 when the text does not start so. */
static inline int day_or_month(const uint8_t *text, size_t length, size_t *at) {
    size_t start = *at, end = start;
    while (end < length && end - start < 3 && is_digit(text[end])) {
        end++;
    }
    int digits = (int)(end - start);
    if (digits < 1 || digits > 2 || end >= length || text[end] != '.') {
        return 0;
    }
    *at = end + 1;
    return digits;
}

/* Read "d.m.yyyy" at text[*at]: a year of exactly four digits, not followed
 * by a fifth. Returns 1, or 0 when the text does not start so. */
static int read_date(const uint8_t *text, size_t length, size_t *at, DateText *date) {
    size_t position = *at;
    date->day = text + position;
    if (!(date->day_digits = day_or_month(text, length, &position))) {
        return 0;
    }
    date->month = text + position;
    if (!(date->month_digits = day_or_month(text, length, &position))) {
        return 0;
    }
    if (length - position < 4) {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (!is_digit(text[position + i])) {
            return 0;
        }
    }
    if (position + 4 < length && is_digit(text[position + 4])) {
        return 0;
    }
    date->year = text + position;
    *at = position + 4;
    return 1;
}

/* A dash at text[*at]: "-" or U+2010 to U+2014, three bytes in UTF-8. */
static int read_dash(const uint8_t *text, size_t length, size_t *at) {
    if (*at < length && text[*at] == '-') {
        *at += 1;
        return 1;
    }
    if (length - *at >= 3 && text[*at] == 0xE2 && text[*at + 1] == 0x80 &&
        text[*at + 2] >= 0x90 && text[*at + 2] <= 0x94) {
        *at += 3;
        return 1;
    }
    return 0;
}

static inline int number(const uint8_t *digits, int count) {
    int value = 0;
    for (int i = 0; i < count; i++) {
        value = value * 10 + (digits[i] - '0');
    }
    return value;
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar, after
 * Howard Hinnant's days_from_civil. */
static int32_t days_from_civil(int year, int month, int day) {
    year -= month <= 2;
    int era = year / 400;
    int year_of_era = year - era * 400;
    int day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return (int32_t)(era * 146097 + day_of_era - 719468);
}

/* Whether the date exists, with a year of at least 1000, as numpy's
 * calendar in dupmon.staging._to_dates decides it. The days go to *days. */
static int real_date(const DateText *date, int32_t *days) {
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int day = number(date->day, date->day_digits);
    int month = number(date->month, date->month_digits);
    int year = number(date->year, 4);
    if (month < 1 || month > 12 || year < 1000 || day < 1) {
        return 0;
    }
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > month_days[month - 1] + (month == 2 && leap)) {
        return 0;
    }
    *days = days_from_civil(year, month, day);
    return 1;
}

static char *write_padded(char *out, const uint8_t *digits, int count) {
    if (count == 1) {
        *out++ = '0';
    }
    memcpy(out, digits, (size_t)count);
    return out + count;
}

static char *write_date(char *out, const DateText *date) {
    out = write_padded(out, date->day, date->day_digits);
    *out++ = '.';
    out = write_padded(out, date->month, date->month_digits);
    *out++ = '.';
    memcpy(out, date->year, 4);
    return out + 4;
}

/* Read one cell and return its flags. The account is text[*account_start]
 * up to text[*account_end], empty when the cell has none. */
static uint8_t read_cell(const uint8_t *text, size_t length, DateText *first, DateText *second,
                         size_t *account_start, size_t *account_end) {
    size_t at = 0;
    *account_start = *account_end = 0;
    if (!read_date(text, length, &at, first)) {
        return 0;
    }
    at = skip_spaces(text, length, at);
    if (!read_dash(text, length, &at)) {
        return 0;
    }
    at = skip_spaces(text, length, at);
    if (!read_date(text, length, &at, second)) {
        return 0;
    }
    if (at == length) {
        return MATCHED;
    }
    at = skip_spaces(text, length, at);
    if (at == length || text[at] != '(' || text[length - 1] != ')') {
        return 0;
    }
    at = skip_spaces(text, length, at + 1);
    size_t end = length - 1;
    for (size_t i = at; i < end; i++) {
        if (text[i] == '(' || text[i] == ')') {
            return 0;
        }
    }
    /* at <= end here, since the closing bracket is not a space. */
    while (end > at && is_space(text[end - 1])) {
        end--;
    }
    *account_start = at;
    *account_end = end;
    return MATCHED;
}

/* Decode the UTF-8 character at text[*at] and move past it. Returns the
 * code point, or -1 for bytes that are not UTF-8, which untidy marks. */
static int32_t next_code_point(const uint8_t *text, size_t length, size_t *at) {
    uint8_t lead = text[*at];
    int extra;
    int32_t code;
    if (lead < 0x80) {
        *at += 1;
        return lead;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
        extra = 1;
        code = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        extra = 2;
        code = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        extra = 3;
        code = lead & 0x07;
    } else {
        return -1;
    }
    if (length - *at <= (size_t)extra) {
        return -1;
    }
    for (int i = 1; i <= extra; i++) {
        uint8_t byte = text[*at + i];
        if ((byte & 0xC0) != 0x80) {
            return -1;
        }
        code = (code << 6) | (byte & 0x3F);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (extra == 3 && (code < 0x10000 || code > 0x10FFFF))) {
        return -1;
    }
    *at += (size_t)extra + 1;
    return code;
}

/* The safe characters: a bit per code point of the Basic Multilingual
 * Plane, and the ranges for those above it. */
typedef struct {
    uint8_t plane[0x10000 / 8];
    const uint32_t *ranges;
    Py_ssize_t pairs;
} SafeSet;

static void build_safe_set(SafeSet *set, const uint32_t *ranges, Py_ssize_t pairs) {
    memset(set->plane, 0, sizeof(set->plane));
    for (Py_ssize_t pair = 0; pair < pairs; pair++) {
        for (uint32_t code = ranges[2 * pair]; code <= ranges[2 * pair + 1] && code < 0x10000;
             code++) {
            set->plane[code / 8] |= (uint8_t)(1u << (code % 8));
        }
    }
    set->ranges = ranges;
    set->pairs = pairs;
}

static inline int is_safe(const SafeSet *set, int32_t code) {
    if (code < 0x10000) {
        return (set->plane[code / 8] >> (code % 8)) & 1;
    }
    for (Py_ssize_t pair = 0; pair < set->pairs; pair++) {
        uint32_t first = set->ranges[2 * pair], last = set->ranges[2 * pair + 1];
        if ((uint32_t)code >= first && (uint32_t)code <= last) {
            return 1;
        }
    }
    return 0;
}

static int is_untidy(const uint8_t *text, size_t length, const SafeSet *set) {
    if (length && (text[0] == ' ' || text[length - 1] == ' ')) {
        return 1;
    }
    size_t at = 0;
    while (at < length) {
        if (text[at] == ' ' && at + 1 < length && text[at + 1] == ' ') {
            return 1;
        }
        int32_t code = next_code_point(text, length, &at);
        if (code < 0 || !is_safe(set, code)) {
            return 1;
        }
    }
    return 0;
}

PyDoc_STRVAR(one_range_doc,
             "one_range(offsets, data, /) -> (flags, days, account_offsets, account_data, "
             "shown_offsets, shown_data)\n"
             "\n"
             "Read every cell as one range. Cell i is data[offsets[i]:offsets[i + 1]],\n"
             "the offsets a numpy int64 array. flags has a byte per cell: bit 1 when the\n"
             "cell is one range, bit 2 when its first date exists, bit 4 when its\n"
             "second does. days holds two native int32 per cell, the days of each date\n"
             "from 1970-01-01, or 0. The account of each cell, empty where there is\n"
             "none, and the range as format_date writes it, empty where the cell is\n"
             "not a range, come as int64 offsets and data, as a large_string array\n"
             "is stored.");

static PyObject *one_range(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Strings cells = {0};
    PyObject *flags = NULL, *days = NULL, *account_offsets = NULL, *account_data = NULL,
             *shown_offsets = NULL, *shown_data = NULL, *result = NULL;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "one_range() takes 2 arguments (offsets, data), got %zd",
                     nargs);
        return NULL;
    }
    if (get_strings(args[0], args[1], "the cells", &cells) < 0) {
        goto done;
    }

    const Py_ssize_t count = cells.count;
    const int64_t *bounds = (const int64_t *)cells.offsets.buf;
    const uint8_t *bytes = (const uint8_t *)cells.data.buf;
    /* An account is part of its cell, so the cells' bytes bound them all. */
    Py_ssize_t text_bytes = (Py_ssize_t)(bounds[count] - bounds[0]);
    flags = PyBytes_FromStringAndSize(NULL, count);
    days = PyBytes_FromStringAndSize(NULL, 2 * count * (Py_ssize_t)sizeof(int32_t));
    account_offsets = PyBytes_FromStringAndSize(NULL, (count + 1) * (Py_ssize_t)sizeof(int64_t));
    account_data = PyBytes_FromStringAndSize(NULL, text_bytes);
    shown_offsets = PyBytes_FromStringAndSize(NULL, (count + 1) * (Py_ssize_t)sizeof(int64_t));
    if (flags == NULL || days == NULL || account_offsets == NULL || account_data == NULL ||
        shown_offsets == NULL) {
        goto done;
    }
    if (count > PY_SSIZE_T_MAX / SHOWN_BYTES) {
        PyErr_NoMemory();
        goto done;
    }
    shown_data = PyBytes_FromStringAndSize(NULL, count * SHOWN_BYTES);
    if (shown_data == NULL) {
        goto done;
    }

    uint8_t *flag = (uint8_t *)PyBytes_AS_STRING(flags);
    int32_t *day = (int32_t *)PyBytes_AS_STRING(days);
    int64_t *account_bounds = (int64_t *)PyBytes_AS_STRING(account_offsets);
    char *account = PyBytes_AS_STRING(account_data);
    int64_t *shown_bounds = (int64_t *)PyBytes_AS_STRING(shown_offsets);
    char *shown = PyBytes_AS_STRING(shown_data);
    int64_t account_length = 0, shown_length = 0;
    /* Only C memory from here on, so other Python threads may run. */
    Py_BEGIN_ALLOW_THREADS
    account_bounds[0] = shown_bounds[0] = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const uint8_t *text = bytes + bounds[i];
        DateText first, second;
        size_t start, end;
        uint8_t cell = read_cell(text, (size_t)(bounds[i + 1] - bounds[i]), &first, &second,
                                 &start, &end);
        day[2 * i] = day[2 * i + 1] = 0;
        if (cell & MATCHED) {
            cell |= real_date(&first, &day[2 * i]) ? START_OK : 0;
            cell |= real_date(&second, &day[2 * i + 1]) ? END_OK : 0;
            memcpy(account + account_length, text + start, end - start);
            account_length += (int64_t)(end - start);
            char *out = write_date(shown + shown_length, &first);
            memcpy(out, " - ", 3);
            write_date(out + 3, &second);
            shown_length += SHOWN_BYTES;
        }
        flag[i] = cell;
        account_bounds[i + 1] = account_length;
        shown_bounds[i + 1] = shown_length;
    }
    Py_END_ALLOW_THREADS

    if (_PyBytes_Resize(&account_data, (Py_ssize_t)account_length) < 0 ||
        _PyBytes_Resize(&shown_data, (Py_ssize_t)shown_length) < 0) {
        goto done;
    }
    result = PyTuple_Pack(6, flags, days, account_offsets, account_data, shown_offsets,
                          shown_data);
done:
    Py_XDECREF(flags);
    Py_XDECREF(days);
    Py_XDECREF(account_offsets);
    Py_XDECREF(account_data);
    Py_XDECREF(shown_offsets);
    Py_XDECREF(shown_data);
    release_strings(&cells);
    return result;
}

/* Return whether text[0:length] is UTF-8. ASCII is skipped eight bytes at a
 * time, and every other character read with next_code_point. */
static int utf8_valid_scalar(const uint8_t *text, size_t length) {
    size_t at = 0;
    while (at < length) {
        if (length - at >= 8) {
            uint64_t word;
            memcpy(&word, text + at, sizeof word);
            if ((word & 0x8080808080808080ULL) == 0) {
                at += 8;
                continue;
            }
        }
        if (next_code_point(text, length, &at) < 0) {
            return 0;
        }
    }
    return 1;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VECTOR_BUILT 1
#include <immintrin.h>

/* The vector check looks at each byte together with the byte before it
 * (prev1), in 32 lanes at once. Three tables of 16 entries are indexed by
 * the high and low half of prev1 and the high half of the byte. Each entry
 * has a bit for each problem that pair may show, and the pair shows the
 * problem when all three entries have its bit. The bits:
 *
 *   SHORT      a lead byte (C0 to FF) not followed by a continuation
 *              (80 to BF)
 *   STRAY      a continuation after an ASCII byte
 *   OVERLONG2  C0 or C1 and a continuation: a 2-byte overlong form
 *   OVERLONG3  E0 and 80 to 9F: a 3-byte overlong form
 *   SURROGATE  ED and A0 to BF: U+D800 to U+DFFF
 *   BEYOND     F4 to FF and 90 to BF: above U+10FFFF, or no lead at all
 *   F_THEN_8X  F0 and 80 to 8F (4-byte overlong form), or F5 to FF and 80
 *              to 8F (no lead at all)
 *   CONT_CONT  a continuation after a continuation
 *
 * CONT_CONT is right only where the byte must be the third or fourth of its
 * character: two bytes after a lead of E0 or more, or three after one of F0
 * or more. That is worked out apart (see utf8_valid_vector) and compared
 * with the bit. A character cut off by the end of a block is found in the
 * next block, where prev1, prev2 and prev3 reach back into this one. */
#define SHORT 0x01
#define STRAY 0x02
#define OVERLONG3 0x04
#define BEYOND 0x08
#define SURROGATE 0x10
#define OVERLONG2 0x20
#define F_THEN_8X 0x40
#define CONT_CONT 0x80
/* Bits that depend on the high halves alone. */
#define ANY_LOW (SHORT | STRAY | CONT_CONT)

static const int8_t PREV_HIGH[16] = {
    STRAY, STRAY, STRAY, STRAY, STRAY, STRAY, STRAY, STRAY,
    (int8_t)CONT_CONT, (int8_t)CONT_CONT, (int8_t)CONT_CONT, (int8_t)CONT_CONT,
    SHORT | OVERLONG2,
    SHORT,
    SHORT | OVERLONG3 | SURROGATE,
    SHORT | BEYOND | F_THEN_8X,
};
static const int8_t PREV_LOW[16] = {
    (int8_t)(ANY_LOW | OVERLONG2 | OVERLONG3 | F_THEN_8X),
    (int8_t)(ANY_LOW | OVERLONG2),
    (int8_t)ANY_LOW,
    (int8_t)ANY_LOW,
    (int8_t)(ANY_LOW | BEYOND),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X | SURROGATE),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
    (int8_t)(ANY_LOW | BEYOND | F_THEN_8X),
};
static const int8_t THIS_HIGH[16] = {
    SHORT, SHORT, SHORT, SHORT, SHORT, SHORT, SHORT, SHORT,
    (int8_t)(STRAY | OVERLONG2 | OVERLONG3 | F_THEN_8X | CONT_CONT),
    (int8_t)(STRAY | OVERLONG2 | OVERLONG3 | BEYOND | CONT_CONT),
    (int8_t)(STRAY | OVERLONG2 | SURROGATE | BEYOND | CONT_CONT),
    (int8_t)(STRAY | OVERLONG2 | SURROGATE | BEYOND | CONT_CONT),
    SHORT, SHORT, SHORT, SHORT,
};

__attribute__((target("avx2"))) static inline __m256i table_of(const int8_t entries[16]) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)entries));
}

/* Return 32 bytes of previous followed by current: those that end `back`
 * bytes before the end of current, for back 1 to 3. */
__attribute__((target("avx2"))) static inline __m256i shifted(__m256i previous, __m256i current,
                                                               int back) {
    __m256i straddle = _mm256_permute2x128_si256(previous, current, 0x21);
    switch (back) {
    case 1:
        return _mm256_alignr_epi8(current, straddle, 15);
    case 2:
        return _mm256_alignr_epi8(current, straddle, 14);
    default:
        return _mm256_alignr_epi8(current, straddle, 13);
    }
}

/* Return the 32 bytes at text + at, or the fewer left before length
 * followed by copies of pad. */
__attribute__((target("avx2"))) static inline __m256i load_block(const uint8_t *text, size_t at,
                                                                 size_t length, uint8_t pad) {
    if (length - at >= 32) {
        return _mm256_loadu_si256((const __m256i *)(text + at));
    }
    uint8_t tail[32];
    memset(tail, pad, sizeof tail);
    memcpy(tail, text + at, length - at);
    return _mm256_loadu_si256((const __m256i *)tail);
}

__attribute__((target("avx2"))) static int utf8_valid_vector(const uint8_t *text, size_t length) {
    const __m256i prev_high = table_of(PREV_HIGH), prev_low = table_of(PREV_LOW);
    const __m256i this_high = table_of(THIS_HIGH);
    const __m256i low_half = _mm256_set1_epi8(0x0F);
    /* A byte above these, in the last three places of a block, starts a
     * character that goes on into the next block. */
    const __m256i last_allowed = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, (int8_t)0xEF, (int8_t)0xDF, (int8_t)0xBF);
    __m256i previous = _mm256_setzero_si256();
    __m256i errors = _mm256_setzero_si256();
    __m256i unfinished = _mm256_setzero_si256();
    size_t at = 0;

    while (at < length) {
        /* Zeros are ASCII, so a character cut off by the end fails. */
        __m256i current = load_block(text, at, length, 0);
        at += 32;

        if (_mm256_movemask_epi8(current) == 0) {
            /* All ASCII: only a character left open by the block before can
             * fail here. */
            errors = _mm256_or_si256(errors, unfinished);
            unfinished = _mm256_setzero_si256();
            previous = current;
            continue;
        }

        __m256i prev1 = shifted(previous, current, 1);
        __m256i found = _mm256_and_si256(
            _mm256_and_si256(
                _mm256_shuffle_epi8(prev_high,
                                    _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low_half)),
                _mm256_shuffle_epi8(prev_low, _mm256_and_si256(prev1, low_half))),
            _mm256_shuffle_epi8(this_high,
                                _mm256_and_si256(_mm256_srli_epi16(current, 4), low_half)));

        /* The high bit of (prev2 - 0x60) or (prev3 - 0x70), saturated at 0,
         * is set where prev2 >= E0 or prev3 >= F0. */
        __m256i third = _mm256_subs_epu8(shifted(previous, current, 2), _mm256_set1_epi8(0x60));
        __m256i fourth = _mm256_subs_epu8(shifted(previous, current, 3), _mm256_set1_epi8(0x70));
        __m256i must_continue =
            _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
        errors = _mm256_or_si256(errors, _mm256_xor_si256(must_continue, found));
        unfinished = _mm256_subs_epu8(current, last_allowed);
        previous = current;
    }

    errors = _mm256_or_si256(errors, unfinished);
    return _mm256_testz_si256(errors, errors);
}

/* Return a mask of the bytes of x that lie in first to last (unsigned). */
__attribute__((target("avx2"))) static inline __m256i in_range(__m256i x, uint8_t first,
                                                                uint8_t last) {
    __m256i offset = _mm256_sub_epi8(x, _mm256_set1_epi8((char)first));
    return _mm256_cmpeq_epi8(_mm256_min_epu8(offset, _mm256_set1_epi8((char)(last - first))),
                             offset);
}

__attribute__((target("avx2"))) static inline __m256i equal_to(__m256i x, uint8_t value) {
    return _mm256_cmpeq_epi8(x, _mm256_set1_epi8((char)value));
}

/* Return whether the bytes of a run of cells, taken together, are UTF-8 of
 * the characters in PLAIN_RANGES with no two spaces in a row (untidy's
 * quick path). The two-byte characters have the lead C2 (followed only by
 * AB or BB) or D0 to D3 (D2 not followed by 83 to 89). The three-byte ones
 * are E2 80 90 to E2 80 9F and E2 84 96. plain_edges checks the edges of
 * each cell, so that no character or pair of spaces straddles two cells. */
__attribute__((target("avx2"))) static int plain_span_vector(const uint8_t *text,
                                                             size_t length) {
    __m256i previous = _mm256_setzero_si256();
    __m256i bad = _mm256_setzero_si256();
    size_t at = 0;

    while (at < length) {
        /* The padding is a letter, so a character cut off by the end fails. */
        __m256i current = load_block(text, at, length, 'a');
        at += 32;

        __m256i prev1 = shifted(previous, current, 1);
        __m256i prev2 = shifted(previous, current, 2);
        __m256i continuation = in_range(current, 0x80, 0xBF);
        __m256i two_byte_lead =
            _mm256_or_si256(in_range(current, 0xD0, 0xD3), equal_to(current, 0xC2));
        __m256i allowed = _mm256_or_si256(
            _mm256_or_si256(in_range(current, 0x20, 0x7E), continuation),
            _mm256_or_si256(two_byte_lead, equal_to(current, 0xE2)));
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi8(allowed, _mm256_setzero_si256()));

        /* A continuation must be exactly where a lead before it needs one. */
        __m256i after_e2 = equal_to(prev1, 0xE2);
        __m256i second_after_e2 = equal_to(prev2, 0xE2);
        __m256i expected = _mm256_or_si256(
            _mm256_or_si256(in_range(prev1, 0xD0, 0xD3), equal_to(prev1, 0xC2)),
            _mm256_or_si256(after_e2, second_after_e2));
        bad = _mm256_or_si256(bad, _mm256_xor_si256(continuation, expected));

        /* Only some continuations give plain characters. After D2, 83 to 89
         * (U+0483 to U+0489) are not plain. After C2 only AB and BB (the
         * guillemets) are plain. After E2 only 80 then 90 to 9F, or 84 then
         * 96, are plain. */
        __m256i guillemet = _mm256_or_si256(equal_to(current, 0xAB), equal_to(current, 0xBB));
        __m256i e2_second = _mm256_or_si256(equal_to(current, 0x80), equal_to(current, 0x84));
        __m256i e2_third = _mm256_or_si256(
            _mm256_and_si256(equal_to(prev1, 0x80), in_range(current, 0x90, 0x9F)),
            _mm256_and_si256(equal_to(prev1, 0x84), equal_to(current, 0x96)));
        bad = _mm256_or_si256(
            bad, _mm256_and_si256(equal_to(prev1, 0xD2), in_range(current, 0x83, 0x89)));
        bad = _mm256_or_si256(bad, _mm256_andnot_si256(guillemet, equal_to(prev1, 0xC2)));
        bad = _mm256_or_si256(bad, _mm256_andnot_si256(e2_second, after_e2));
        bad = _mm256_or_si256(bad, _mm256_andnot_si256(e2_third, second_after_e2));

        bad = _mm256_or_si256(
            bad, _mm256_and_si256(equal_to(current, ' '), equal_to(prev1, ' ')));
        if (!_mm256_testz_si256(bad, bad)) {
            return 0;
        }
        previous = current;
    }
    return 1;
}

/* Count the bytes of text[0:length) that end a line: an LF, or a CR that
 * no LF follows. The byte text[length] is read too, so it must exist. */
__attribute__((target("avx2"))) static size_t line_ends_vector(const uint8_t *text,
                                                               size_t length) {
    size_t ends = 0;
    size_t at = 0;
    for (; at + 32 <= length; at += 32) {
        __m256i current = _mm256_loadu_si256((const __m256i *)(text + at));
        __m256i next = _mm256_loadu_si256((const __m256i *)(text + at + 1));
        __m256i lone_cr = _mm256_andnot_si256(equal_to(next, '\n'), equal_to(current, '\r'));
        __m256i line_end = _mm256_or_si256(equal_to(current, '\n'), lone_cr);
        ends += (size_t)__builtin_popcount((unsigned)_mm256_movemask_epi8(line_end));
    }
    for (; at < length; at++) {
        ends += (size_t)((text[at] == '\n') | ((text[at] == '\r') & (text[at + 1] != '\n')));
    }
    return ends;
}

#else
#define VECTOR_BUILT 0
#endif

/* Return whether this machine can run the vector scans. */
static int vector_available(void) {
#if VECTOR_BUILT
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* Cells per run of untidy's quick path. One untidy cell sends the whole
 * run to the scalar check, so runs are short. After a failed run the quick
 * path skips 1, 2, 4 and up to MAX_WAIT runs before it tries again. So a
 * column with an untidy cell in every run costs little more than the
 * scalar check alone. */
#define RUN_CELLS 16
#define MAX_WAIT 32

#if VECTOR_BUILT
/* The characters untidy's quick path accepts, the first and last of each
 * range. They are the same as dupmon.text_arrays.SAFE_RANGES. */
static const int32_t PLAIN_RANGES[][2] = {
    {0x20, 0x7E},   {0xAB, 0xAB},     {0xBB, 0xBB},     {0x400, 0x482},
    {0x48A, 0x4FF}, {0x2010, 0x201F}, {0x2116, 0x2116},
};

/* Return whether the safe set contains every character of PLAIN_RANGES. */
static int covers_plain(const SafeSet *set) {
    for (size_t range = 0; range < sizeof PLAIN_RANGES / sizeof PLAIN_RANGES[0]; range++) {
        for (int32_t code = PLAIN_RANGES[range][0]; code <= PLAIN_RANGES[range][1]; code++) {
            if (!is_safe(set, code)) {
                return 0;
            }
        }
    }
    return 1;
}

/* Return whether no cell of first to end - 1 begins or ends with a space
 * or ends inside a character. A cell ends inside one on a lead byte (C0
 * and up), or on a lead of three bytes or more (E0 and up) and one more
 * byte. The quick path accepts no character of four bytes, so this is
 * enough. plain_span_vector then finds a continuation at the start of a
 * cell, because no lead comes before it. */
static int plain_edges(const uint8_t *bytes, const int64_t *bounds, Py_ssize_t first,
                       Py_ssize_t end) {
    for (Py_ssize_t i = first; i < end; i++) {
        int64_t length = bounds[i + 1] - bounds[i];
        if (length == 0) {
            continue;
        }
        const uint8_t *cell = bytes + bounds[i];
        uint8_t head = cell[0], last = cell[length - 1];
        if (head == ' ' || last == ' ' || last >= 0xC0 ||
            (length >= 2 && cell[length - 2] >= 0xE0)) {
            return 0;
        }
    }
    return 1;
}
#endif

PyDoc_STRVAR(untidy_doc,
             "untidy(offsets, data, safe, vector=True, /) -> bytes\n"
             "\n"
             "Return a byte per cell: 1 where the cell has a character outside the safe\n"
             "ranges, two spaces in a row or a space at either end, or is not UTF-8,\n"
             "else 0. Cell i is data[offsets[i]:offsets[i + 1]], the offsets a numpy\n"
             "int64 array. safe holds native uint32 pairs, the first and last code\n"
             "point of each safe range. With vector true (the default), on a machine\n"
             "with AVX2 (UTF8_VECTOR) and where the safe ranges take those of\n"
             "dupmon.text_arrays, runs of tidy cells are passed 32 bytes at a time;\n"
             "the marks are the same either way.");

static PyObject *untidy(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Strings cells = {0};
    Py_buffer safe = {0};
    PyObject *result = NULL;
    if (nargs != 3 && nargs != 4) {
        PyErr_Format(PyExc_TypeError,
                     "untidy() takes 3 or 4 arguments (offsets, data, safe, vector), got %zd",
                     nargs);
        return NULL;
    }
    int vector = nargs == 4 ? PyObject_IsTrue(args[3]) : 1;
    if (vector < 0) {
        return NULL;
    }
    if (get_strings(args[0], args[1], "the cells", &cells) < 0 ||
        PyObject_GetBuffer(args[2], &safe, PyBUF_SIMPLE) < 0) {
        goto done;
    }
    if (safe.len % (2 * (Py_ssize_t)sizeof(uint32_t)) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "invalid safe ranges of %zd bytes: they must be pairs of 32-bit integers",
                     safe.len);
        goto done;
    }

    /* Copied, since the buffer need not be aligned for 32-bit integers. */
    uint32_t *ranges = PyMem_Malloc((size_t)safe.len + 1);
    if (ranges == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, cells.count);
    if (result == NULL) {
        PyMem_Free(ranges);
        goto done;
    }
    memcpy(ranges, safe.buf, (size_t)safe.len);
    SafeSet set;
    build_safe_set(&set, ranges, safe.len / (2 * (Py_ssize_t)sizeof(uint32_t)));

    uint8_t *marks = (uint8_t *)PyBytes_AS_STRING(result);
    const int64_t *bounds = (const int64_t *)cells.offsets.buf;
    const uint8_t *bytes = (const uint8_t *)cells.data.buf;
#if VECTOR_BUILT
    int quick = vector && vector_available() && covers_plain(&set);
#else
    (void)vector;
#endif
    /* NOTE: get_strings checked the offsets before the GIL is released. A
     * caller that changes them from another thread during the call can make
     * a length negative, so the arrays must not be shared while this runs. */
    Py_BEGIN_ALLOW_THREADS
#if VECTOR_BUILT
    int wait = 0, next_wait = 1;
#endif
    for (Py_ssize_t first = 0; first < cells.count; first += RUN_CELLS) {
        Py_ssize_t end = cells.count - first < RUN_CELLS ? cells.count : first + RUN_CELLS;
#if VECTOR_BUILT
        if (quick && wait > 0) {
            wait--;
        } else if (quick) {
            if (plain_edges(bytes, bounds, first, end) &&
                plain_span_vector(bytes + bounds[first], (size_t)(bounds[end] - bounds[first]))) {
                memset(marks + first, 0, (size_t)(end - first));
                next_wait = 1;
                continue;
            }
            wait = next_wait;
            next_wait = next_wait < MAX_WAIT ? 2 * next_wait : MAX_WAIT;
        }
#endif
        for (Py_ssize_t i = first; i < end; i++) {
            marks[i] =
                (uint8_t)is_untidy(bytes + bounds[i], (size_t)(bounds[i + 1] - bounds[i]), &set);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(ranges);
done:
    if (safe.obj != NULL) {
        PyBuffer_Release(&safe);
    }
    release_strings(&cells);
    return result;
}

/* Read the arguments (data, start, vector) of utf8_valid and line_count
 * into data, start and vector. Return -1 with an exception set when they
 * are invalid, else 0 with data to release. */
static int get_data_start_vector(const char *name, PyObject *const *args, Py_ssize_t nargs,
                                 Py_buffer *data, Py_ssize_t *start, int *vector) {
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s() takes 3 arguments (data, start, vector), got %zd",
                     name, nargs);
        return -1;
    }
    /* Take any integer that a slice index takes, numpy's too. */
    *start = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (*start == -1 && PyErr_Occurred()) {
        return -1;
    }
    *vector = PyObject_IsTrue(args[2]);
    if (*vector < 0 || PyObject_GetBuffer(args[0], data, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (*start < 0 || *start > data->len) {
        PyErr_Format(PyExc_ValueError,
                     "invalid start %zd: it must be 0 to the %zd bytes of the data", *start,
                     data->len);
        PyBuffer_Release(data);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(utf8_valid_doc,
             "utf8_valid(data, start, vector, /) -> bool\n"
             "\n"
             "Return whether data[start:] is UTF-8 as Python's strict decoder takes it:\n"
             "no overlong forms, surrogates or code points above U+10FFFF. data is any\n"
             "object with the buffer protocol. With vector true and UTF8_VECTOR set, 32\n"
             "bytes are checked at a time with AVX2; else one character at a time.");

static PyObject *utf8_valid(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer data = {0};
    Py_ssize_t start;
    int vector;
    (void)module;
    if (get_data_start_vector("utf8_valid", args, nargs, &data, &start, &vector) < 0) {
        return NULL;
    }
    const uint8_t *text = (const uint8_t *)data.buf + start;
    size_t length = (size_t)(data.len - start);
    int valid;
    Py_BEGIN_ALLOW_THREADS
#if VECTOR_BUILT
    if (vector && vector_available()) {
        valid = utf8_valid_vector(text, length);
    } else {
        valid = utf8_valid_scalar(text, length);
    }
#else
    (void)vector;
    valid = utf8_valid_scalar(text, length);
#endif
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyBool_FromLong(valid);
}

/* The scalar twin of line_ends_vector. */
static size_t line_ends_scalar(const uint8_t *text, size_t length) {
    size_t ends = 0;
    for (size_t at = 0; at < length; at++) {
        ends += (size_t)((text[at] == '\n') | ((text[at] == '\r') & (text[at + 1] != '\n')));
    }
    return ends;
}

PyDoc_STRVAR(line_count_doc,
             "line_count(data, start, vector, /) -> int\n"
             "\n"
             "Return the number of lines in data[start:] as pyarrow's CSV reader counts\n"
             "them: each LF, CR LF or lone CR ends one, and so does the end of data\n"
             "after a last line with no line end. data is any object with the buffer\n"
             "protocol. With vector true and UTF8_VECTOR set, 32 bytes are looked at\n"
             "a time with AVX2.");

static PyObject *line_count(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer data = {0};
    Py_ssize_t start;
    int vector;
    (void)module;
    if (get_data_start_vector("line_count", args, nargs, &data, &start, &vector) < 0) {
        return NULL;
    }
    const uint8_t *text = (const uint8_t *)data.buf + start;
    size_t length = (size_t)(data.len - start);
    size_t lines = 0;
    Py_BEGIN_ALLOW_THREADS
    if (length > 0) {
        /* A CR counts only when no LF follows it, so every byte but the
           last is looked at with the one after it. */
        size_t last = length - 1;
#if VECTOR_BUILT
        if (vector && vector_available()) {
            lines = line_ends_vector(text, last);
        } else {
            lines = line_ends_scalar(text, last);
        }
#else
        (void)vector;
        lines = line_ends_scalar(text, last);
#endif
        /* The last byte ends a line whether it is a CR or an LF, and any
           other byte ends the last line, which has no line end. */
        lines += 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSize_t(lines);
}

static PyMethodDef methods[] = {
    {"untidy", (PyCFunction)(void (*)(void))untidy, METH_FASTCALL, untidy_doc},
    {"one_range", (PyCFunction)(void (*)(void))one_range, METH_FASTCALL, one_range_doc},
    {"utf8_valid", (PyCFunction)(void (*)(void))utf8_valid, METH_FASTCALL, utf8_valid_doc},
    {"line_count", (PyCFunction)(void (*)(void))line_count, METH_FASTCALL, line_count_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    "dupmon._cells",
    "Scans of text columns and CSV bytes; see untidy, one_range, utf8_valid and line_count.",
    0,
    methods,
};

PyMODINIT_FUNC PyInit__cells(void) {
    PyObject *module = PyModule_Create(&module_definition);
    if (module != NULL &&
        PyModule_AddObjectRef(module, "UTF8_VECTOR", vector_available() ? Py_True : Py_False) <
            0) {
        Py_CLEAR(module);
    }
    return module;
}
