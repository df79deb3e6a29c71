/* Fast TREC / MS MARCO run parsing and TREC line formatting for hybrid.formats.runs.
 *
 * parse(buffer, trec, integer_docs) tokenises a whole run file held in memory, with the GIL released:
 * query ids are interned (codes in order of first appearance), document ids are either parsed as
 * canonical non-negative integers or interned, scores are parsed exactly (correctly rounded, as
 * Python's float() does). Anything unusual (a malformed line, a non-ASCII byte, a score written in a
 * way this parser does not take) is reported by status, and the caller falls back to its line-by-line
 * reader, which names the file, line and problem.
 *
 * format(...) writes rows as TREC or MS MARCO lines; scores print as Python's f"{s:.6f}" does.
 * merge(a, b) joins two sorted integer doc id vocabularies in one pass; intern(numbers, top) gives integer
 * doc ids their codes in such a vocabulary.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../_keyset.h"

enum { PARSE_OK = 0, PARSE_FALLBACK = 1, PARSE_NOT_INTEGER = 2, PARSE_EMPTY = 3, PARSE_NO_MEMORY = 4 };

/* ------------------------------------------------------------------------- interning */
typedef struct {
    const char *ptr;
    int64_t len;
} Span;

typedef struct {
    int32_t *slots; /* code + 1 per slot; 0 when empty */
    uint64_t mask;
    Span *keys;     /* by code */
    uint64_t *hashes;
    int64_t count, room;
} Table;

static uint64_t hash_bytes(const char *ptr, int64_t len) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t chunk;
        memcpy(&chunk, ptr, 8);
        h = (h ^ chunk) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        ptr += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, ptr, (size_t)len);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

static int table_init(Table *t, uint64_t slots) {
    t->mask = slots - 1;
    t->slots = calloc(slots, sizeof(int32_t));
    t->room = 1024;
    t->keys = malloc((size_t)t->room * sizeof(Span));
    t->hashes = malloc((size_t)t->room * sizeof(uint64_t));
    t->count = 0;
    return t->slots && t->keys && t->hashes ? 0 : -1;
}

static void table_free(Table *t) {
    free(t->slots);
    free(t->keys);
    free(t->hashes);
}

static int table_grow(Table *t) {
    uint64_t slots = (t->mask + 1) * 2;
    int32_t *fresh = calloc(slots, sizeof(int32_t));
    if (!fresh) return -1;
    for (int64_t code = 0; code < t->count; code++) {
        uint64_t i = t->hashes[code] & (slots - 1);
        while (fresh[i]) i = (i + 1) & (slots - 1);
        fresh[i] = (int32_t)(code + 1);
    }
    free(t->slots);
    t->slots = fresh;
    t->mask = slots - 1;
    return 0;
}

/* The code of the key, added if new; -1 when out of memory or past int32 codes. */
static int64_t table_code(Table *t, const char *ptr, int64_t len) {
    uint64_t h = hash_bytes(ptr, len);
    uint64_t i = h & t->mask;
    for (;;) {
        int32_t slot = t->slots[i];
        if (!slot) break;
        Span *key = &t->keys[slot - 1];
        if (t->hashes[slot - 1] == h && key->len == len && memcmp(key->ptr, ptr, (size_t)len) == 0)
            return slot - 1;
        i = (i + 1) & t->mask;
    }
    if (t->count >= INT32_MAX - 1) return -1;
    if (t->count == t->room) {
        int64_t room = t->room * 2;
        Span *keys = realloc(t->keys, (size_t)room * sizeof(Span));
        if (!keys) return -1;
        t->keys = keys;
        uint64_t *hashes = realloc(t->hashes, (size_t)room * sizeof(uint64_t));
        if (!hashes) return -1;
        t->hashes = hashes;
        t->room = room;
    }
    int64_t code = t->count++;
    t->keys[code].ptr = ptr;
    t->keys[code].len = len;
    t->hashes[code] = h;
    t->slots[i] = (int32_t)(code + 1);
    if ((uint64_t)t->count * 2 > t->mask + 1 && table_grow(t) < 0) return -1;
    return code;
}

/* ------------------------------------------------------------------------- numbers */
static const double POWERS[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A decimal score: [+-]digits[.digits][(e|E)[+-]digits], at least one digit before the exponent.
 * Returns 0 and the correctly rounded value, or 1 when the token is not of that form. */
static int parse_score(const char *ptr, int64_t len, double *value) {
    const char *p = ptr, *end = ptr + len;
    int negative = 0;
    if (p < end && (*p == '+' || *p == '-')) negative = *p++ == '-';
    uint64_t mantissa = 0;
    int digits = 0, significant = 0, fraction = 0, exact = 1;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        if (significant < 19) {
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
            if (mantissa) significant++;
        } else {
            exact = 0;
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
            if (significant < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                if (mantissa) significant++;
                fraction++;
            } else {
                exact = 0;
            }
        }
    }
    if (!digits) return 1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        exact = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const char *first = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == first) return 1;
    }
    if (p != end) return 1;
    if (exact && mantissa <= (1ULL << 53) && fraction <= 22) {
        /* both operands exact, so one IEEE division is correctly rounded (Clinger's fast path) */
        double v = (double)mantissa / POWERS[fraction];
        *value = negative ? -v : v;
        return 0;
    }
    char text[512];
    if (len >= (int64_t)sizeof(text)) return 1;
    memcpy(text, ptr, (size_t)len);
    text[len] = '\0';
    *value = strtod(text, NULL); /* glibc's strtod is correctly rounded */
    return 0;
}

/* A canonical non-negative integer ("0" or no leading zero, at most 18 digits); 1 otherwise. */
static int parse_docnum(const char *ptr, int64_t len, int64_t *value) {
    if (len < 1 || len > 18 || (ptr[0] == '0' && len > 1)) return 1;
    int64_t v = 0;
    for (int64_t i = 0; i < len; i++) {
        if (ptr[i] < '0' || ptr[i] > '9') return 1;
        v = v * 10 + (ptr[i] - '0');
    }
    *value = v;
    return 0;
}

/* A positive rank: ASCII digits only, at most 18. */
static int parse_rank(const char *ptr, int64_t len, int64_t *value) {
    int64_t v;
    if (len < 1 || len > 18) return 1;
    v = 0;
    for (int64_t i = 0; i < len; i++) {
        if (ptr[i] < '0' || ptr[i] > '9') return 1;
        v = v * 10 + (ptr[i] - '0');
    }
    if (v <= 0) return 1;
    *value = v;
    return 0;
}

/* ------------------------------------------------------------------------- parsing */
/* Byte classes: 1 ASCII whitespace (a field separator: exactly the ASCII bytes str.split splits on),
 * 2 non-ASCII (left to the checked reader), 3 carriage return (whitespace at a line's end; anywhere
 * else Python's universal newlines would end the line there, so the line goes to the checked reader). */
static unsigned char CLASS[256];
enum { SPACE = 1, NON_ASCII = 2, CARRIAGE_RETURN = 3 };

static void init_classes(void) {
    for (int c = 0x80; c < 256; c++) CLASS[c] = NON_ASCII;
    for (int c = '\t'; c <= '\f'; c++) CLASS[c] = SPACE; /* \t \n \v \f */
    for (int c = 0x1C; c <= 0x1F; c++) CLASS[c] = SPACE; /* file, group, record and unit separators */
    CLASS[' '] = SPACE;
    CLASS['\r'] = CARRIAGE_RETURN;
}

static inline int is_space(unsigned char c) { return CLASS[c] & 1; }

/* A carriage return anywhere but directly before the line's end. */
static inline int stray_return(const char *c, const char *stop) { return *c == '\r' && c + 1 != stop; }

#ifdef __SSE2__
#include <emmintrin.h>

/* Bit i set where byte i of `bytes` lies in [low, low + count). */
static inline uint32_t bytes_in_range(__m128i bytes, int low, int count) {
    __m128i shifted = _mm_add_epi8(bytes, _mm_set1_epi8((char)(0x80 - low)));
    return (uint32_t)_mm_movemask_epi8(_mm_cmplt_epi8(shifted, _mm_set1_epi8((char)(count - 128))));
}

/* The fields of a line of n < 64 bytes at p (64 bytes from p readable), split as the byte loop of
 * parse_lines splits them, from bit masks of 16 bytes at a time: the number of fields (7 for more
 * than six; only the first six are stored), or -1 where that loop would fall back (a non-ASCII byte,
 * a carriage return before the line's last byte). */
static int split_short_line(const char *p, int64_t n, Span *fields) {
    uint64_t space = 0, high = 0, returns = 0;
    for (int k = 0; k < 4; k++) {
        __m128i bytes = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        uint64_t blank = bytes_in_range(bytes, '\t', 5) | bytes_in_range(bytes, 0x1C, 4) |
                         (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(' ')));
        space |= blank << (16 * k);
        high |= (uint64_t)(uint32_t)_mm_movemask_epi8(bytes) << (16 * k);
        returns |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8('\r'))) << (16 * k);
    }
    if (n == 0) return 0;
    uint64_t line = (1ULL << n) - 1;
    if ((high & line) || (returns & line & ~(1ULL << (n - 1)))) return -1;
    uint64_t token = ~space & line;
    uint64_t starts = token & ~(token << 1), ends = token & ~(token >> 1);
    int count = 0;
    for (; starts && count < 6; count++) {
        int first = __builtin_ctzll(starts), last = __builtin_ctzll(ends);
        fields[count].ptr = p + first;
        fields[count].len = last - first + 1;
        starts &= starts - 1;
        ends &= ends - 1;
    }
    return starts ? 7 : count;
}
#endif

typedef struct {
    int trec, integer_docs;
    int64_t rows, line;
    int32_t *qcodes;
    void *docs; /* int64 numbers or int32 codes */
    double *scores;
    Table queries, documents;
    Span tag;
    KeySet seen;        /* the current query's documents */
    int scattered;      /* some query's lines are not contiguous */
    int unsorted;       /* some score is above the one before it in its query */
    int64_t group_first; /* first row of the last query's lines */
    double last_score;
} Parse;

/* The key under which a row's document is checked for repeats within its query. */
static inline int64_t doc_key(const Parse *s, int64_t row) {
    return s->integer_docs ? ((const int64_t *)s->docs)[row] : ((const int32_t *)s->docs)[row];
}

static int parse_lines(Parse *s, const char *data, int64_t size) {
    const char *p = data, *end = data + size;
    int64_t last_query = -1;
    Span last = {NULL, -1};
    while (p < end) {
        const char *stop = memchr(p, '\n', (size_t)(end - p));
        if (!stop) stop = end;
        s->line++;
        Span fields[7];
        int count = 0;
        if (s->trec) {
            const char *c = p;
#ifdef __SSE2__
            if (stop - p < 64 && end - p >= 64) {
                count = split_short_line(p, stop - p, fields);
                if (count < 0) return PARSE_FALLBACK;
                c = stop;
            }
#endif
            while (c < stop && count < 7) {
                while (c < stop && is_space((unsigned char)*c)) {
                    if (stray_return(c, stop)) return PARSE_FALLBACK;
                    c++;
                }
                if (c == stop) break;
                const char *first = c;
                unsigned char kind;
                while (c < stop && !(kind = CLASS[(unsigned char)*c])) c++;
                if (c < stop && kind == NON_ASCII) return PARSE_FALLBACK;
                fields[count].ptr = first;
                fields[count].len = c - first;
                count++;
            }
            if (count == 0) {
                p = stop + 1;
                continue;
            }
            if (count != 6) return PARSE_FALLBACK;
        } else {
            const char *c = p;
            int blank = 1;
            for (const char *b = p; b < stop; b++) {
                if ((unsigned char)*b >= 0x80 || stray_return(b, stop)) return PARSE_FALLBACK;
                if (!is_space((unsigned char)*b)) blank = 0;
            }
            if (blank) {
                p = stop + 1;
                continue;
            }
            while (count < 4) {
                const char *tab = memchr(c, '\t', (size_t)(stop - c));
                const char *field_end = tab ? tab : stop;
                const char *a = c, *b = field_end;
                while (a < b && is_space((unsigned char)*a)) a++;
                while (b > a && is_space((unsigned char)b[-1])) b--;
                fields[count].ptr = a;
                fields[count].len = b - a;
                count++;
                if (!tab) break;
                c = tab + 1;
            }
            if (count != 3) return PARSE_FALLBACK;
        }
        Span qid = fields[0], docid = fields[s->trec ? 2 : 1], value = fields[s->trec ? 4 : 2];
        if (s->rows == 0 && s->trec) s->tag = fields[5];
        int64_t query, row = s->rows;
        int same_query = qid.len == last.len && memcmp(qid.ptr, last.ptr, (size_t)qid.len) == 0;
        if (same_query) {
            query = last_query;
        } else {
            int64_t known = s->queries.count;
            query = table_code(&s->queries, qid.ptr, qid.len);
            if (query < 0) return PARSE_NO_MEMORY;
            if (query < known) s->scattered = 1;
            last = qid;
            last_query = query;
            s->group_first = row;
            keyset_new_group(&s->seen);
        }
        s->qcodes[row] = (int32_t)query;
        if (s->integer_docs) {
            if (parse_docnum(docid.ptr, docid.len, &((int64_t *)s->docs)[row])) return PARSE_NOT_INTEGER;
        } else {
            int64_t code = table_code(&s->documents, docid.ptr, docid.len);
            if (code < 0) return PARSE_NO_MEMORY;
            ((int32_t *)s->docs)[row] = (int32_t)code;
        }
        if (keyset_find_or_add(&s->seen, doc_key(s, row), row) >= 0) return PARSE_FALLBACK; /* repeated doc */
        if ((uint64_t)(row - s->group_first + 1) * 2 > s->seen.mask) { /* keep the table at most half full */
            if (keyset_reset(&s->seen, (s->seen.mask + 1) * 2) < 0) return PARSE_NO_MEMORY;
            for (int64_t r = s->group_first; r <= row; r++) keyset_find_or_add(&s->seen, doc_key(s, r), r);
        }
        double score;
        if (s->trec) {
            if (parse_score(value.ptr, value.len, &score)) return PARSE_FALLBACK;
        } else {
            int64_t rank;
            if (parse_rank(value.ptr, value.len, &rank)) return PARSE_FALLBACK;
            score = 1.0 / (double)rank;
        }
        s->scores[row] = score;
        if (same_query) s->unsorted |= score > s->last_score;
        s->last_score = score;
        s->rows++;
        p = stop + 1;
    }
    return s->rows ? PARSE_OK : PARSE_EMPTY;
}

/* The keys of a table as (data bytes, int64 offsets bytearray). */
static PyObject *vocabulary(const Table *t) {
    int64_t total = 0;
    for (int64_t i = 0; i < t->count; i++) total += t->keys[i].len;
    PyObject *data = PyBytes_FromStringAndSize(NULL, total);
    PyObject *offsets = PyByteArray_FromStringAndSize(NULL, (t->count + 1) * (Py_ssize_t)sizeof(int64_t));
    if (!data || !offsets) {
        Py_XDECREF(data);
        Py_XDECREF(offsets);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(data);
    int64_t *at = (int64_t *)PyByteArray_AS_STRING(offsets);
    int64_t position = 0;
    for (int64_t i = 0; i < t->count; i++) {
        at[i] = position;
        memcpy(out + position, t->keys[i].ptr, (size_t)t->keys[i].len);
        position += t->keys[i].len;
    }
    at[t->count] = position;
    return Py_BuildValue("(NN)", data, offsets);
}

static int shrunk(PyObject *array, Py_ssize_t size) { return PyByteArray_Resize(array, size) == 0; }


static int parse_start(Parse *s, int trec, int integer_docs, int32_t *qcodes, void *docs, double *scores) {
    *s = (Parse){.trec = trec, .integer_docs = integer_docs, .tag = {"hybrid", 6}};
    s->qcodes = qcodes;
    s->docs = docs;
    s->scores = scores;
    return table_init(&s->queries, 1 << 12) == 0 && table_init(&s->documents, integer_docs ? 2 : 1 << 16) == 0 &&
                   keyset_reset(&s->seen, 1 << 12) == 0
               ? 0
               : -1;
}

static void parse_free(Parse *s) {
    table_free(&s->queries);
    table_free(&s->documents);
    free(s->seen.slots);
}

typedef struct {
    Parse *s;
    const char *data;
    int64_t size;
    int status;
} Part;

static void *parse_part(void *arg) {
    Part *part = arg;
    part->status = parse_lines(part->s, part->data, part->size);
    return NULL;
}

/* Appends the second half's rows (parsed on their own) to the first's: one query table, and the
 * checks that span the cut (a query whose lines run across it). 0, or -1 when out of memory. */
static int join_halves(Parse *a, Parse *b) {
    int64_t known = a->queries.count;
    int continued = a->rows && b->rows && b->queries.keys[0].len == a->queries.keys[a->qcodes[a->rows - 1]].len &&
                    memcmp(b->queries.keys[0].ptr, a->queries.keys[a->qcodes[a->rows - 1]].ptr,
                           (size_t)b->queries.keys[0].len) == 0;
    int32_t *codes = malloc((size_t)(b->queries.count + 1) * sizeof(int32_t));
    if (!codes) return -1;
    for (int64_t c = 0; c < b->queries.count; c++) {
        int64_t code = table_code(&a->queries, b->queries.keys[c].ptr, b->queries.keys[c].len);
        if (code < 0) {
            free(codes);
            return -1;
        }
        if (code < known && !(c == 0 && continued)) a->scattered = 1;
        codes[c] = (int32_t)code;
    }
    int width = a->integer_docs ? 8 : 4;
    memmove(a->qcodes + a->rows, b->qcodes, (size_t)b->rows * 4);
    memmove((char *)a->docs + a->rows * width, b->docs, (size_t)b->rows * (size_t)width);
    memmove(a->scores + a->rows, b->scores, (size_t)b->rows * 8);
    for (int64_t r = a->rows; r < a->rows + b->rows; r++) a->qcodes[r] = codes[a->qcodes[r]];
    free(codes);
    if (continued) { /* the query's lines on both sides: falling scores, no document twice */
        int64_t end = a->rows;
        while (end < a->rows + b->rows && a->qcodes[end] == a->qcodes[a->rows - 1]) end++;
        a->unsorted |= a->scores[a->rows] > a->scores[a->rows - 1];
        keyset_new_group(&a->seen);
        for (int64_t r = a->group_first; r < end; r++) {
            if (keyset_find_or_add(&a->seen, doc_key(a, r), r) >= 0) return PARSE_FALLBACK;
            if ((uint64_t)(r - a->group_first + 1) * 2 > a->seen.mask) {
                if (keyset_reset(&a->seen, (a->seen.mask + 1) * 2) < 0) return -1;
                for (int64_t k = a->group_first; k <= r; k++) keyset_find_or_add(&a->seen, doc_key(a, k), k);
            }
        }
    }
    if (!a->rows) a->tag = b->tag;
    a->scattered |= b->scattered;
    a->unsorted |= b->unsorted;
    a->rows += b->rows;
    a->line += b->line;
    return 0;
}

PyDoc_STRVAR(parse_doc,
             "parse(buffer, trec, integer_docs, halves) -> (status, line, rows, qcodes, query_vocabulary, docs, "
             "doc_vocabulary, scores, tag, scattered, unsorted)\n\n"
             "status: 0 ok, 1 fall back to the checked reader (also for a document repeated within a query's "
             "lines), 2 a doc id is not a canonical integer (retry with integer_docs False), 3 no rows. "
             "scattered: some query's lines are not contiguous (repeats across its groups are then unchecked); "
             "unsorted: a score rises within a query. Arrays are bytearrays (int32 query codes in "
             "first-appearance order, int64 doc numbers or int32 doc codes, float64 scores); vocabularies "
             "are (bytes, int64 offsets) pairs. With halves, runs with integer doc ids of 4 MB or more are "
             "parsed in two halves on two threads.");

static int64_t count_lines(const char *data, int64_t size) {
    int64_t lines = 0;
    for (int64_t i = 0; i < size; i++) lines += data[i] == '\n'; /* vectorised by the compiler */
    return lines;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer buffer;
    int trec, integer_docs, halves;
    if (!PyArg_ParseTuple(args, "y*ppp", &buffer, &trec, &integer_docs, &halves)) return NULL;
    const char *data = buffer.buf, *cut = NULL;
    int64_t size = buffer.len;
    if (halves && integer_docs && size >= (4 << 20)) { /* cut after the line ending nearest the middle */
        const char *newline = memchr(data + size / 2, '\n', (size_t)(size - size / 2));
        if (newline && newline + 1 < data + size) cut = newline + 1;
    }
    int64_t first_lines = cut ? count_lines(data, cut - data) : 0;
    int64_t lines = (cut ? first_lines + count_lines(cut, data + size - cut) : count_lines(data, size)) + 1;
    PyObject *qcodes = PyByteArray_FromStringAndSize(NULL, lines * (Py_ssize_t)sizeof(int32_t));
    PyObject *docs = PyByteArray_FromStringAndSize(NULL, lines * (Py_ssize_t)(integer_docs ? 8 : 4));
    PyObject *scores = PyByteArray_FromStringAndSize(NULL, lines * (Py_ssize_t)sizeof(double));
    Parse s = {0}, second = {0};
    int status = PARSE_NO_MEMORY;
    if (qcodes && docs && scores) {
        int32_t *q = (int32_t *)PyByteArray_AS_STRING(qcodes);
        char *d = PyByteArray_AS_STRING(docs);
        double *sc = (double *)PyByteArray_AS_STRING(scores);
        int width = integer_docs ? 8 : 4;
        int ready = parse_start(&s, trec, integer_docs, q, d, sc) == 0 &&
                    (!cut || parse_start(&second, trec, integer_docs, q + first_lines, d + first_lines * width,
                                         sc + first_lines) == 0);
        if (ready) {
            Py_BEGIN_ALLOW_THREADS
            if (!cut) {
                status = parse_lines(&s, data, size);
            } else {
                Part halves[2] = {{&s, data, cut - data, 0}, {&second, cut, data + size - cut, 0}};
                pthread_t thread;
                int threaded = pthread_create(&thread, NULL, parse_part, &halves[1]) == 0;
                parse_part(&halves[0]);
                if (threaded)
                    pthread_join(thread, NULL);
                else
                    parse_part(&halves[1]);
                int a = halves[0].status, b = halves[1].status;
                status = a == PARSE_EMPTY ? b : b == PARSE_EMPTY ? a : a != PARSE_OK ? a : b;
                if (a == PARSE_NO_MEMORY || b == PARSE_NO_MEMORY) status = PARSE_NO_MEMORY;
                if (status == PARSE_OK) {
                    int joined = join_halves(&s, &second);
                    status = joined < 0 ? PARSE_NO_MEMORY : joined;
                }
            }
            Py_END_ALLOW_THREADS
        }
    }
    PyObject *result = NULL;
    if (status == PARSE_NO_MEMORY) {
        PyErr_NoMemory();
    } else if (status != PARSE_OK) {
        result = Py_BuildValue("(iLL)", status, (long long)s.line, (long long)s.rows);
    } else {
        PyObject *queries = vocabulary(&s.queries), *documents = vocabulary(&s.documents);
        Py_ssize_t rows = (Py_ssize_t)s.rows;
        if (queries && documents && shrunk(qcodes, rows * 4) && shrunk(docs, rows * (integer_docs ? 8 : 4)) &&
            shrunk(scores, rows * 8)) {
            result = Py_BuildValue("(iLLOOOOOy#ii)", status, (long long)s.line, (long long)s.rows, qcodes, queries,
                                   docs, documents, scores, s.tag.ptr, (Py_ssize_t)s.tag.len, s.scattered, s.unsorted);
        }
        Py_XDECREF(queries);
        Py_XDECREF(documents);
    }
    Py_XDECREF(qcodes);
    Py_XDECREF(docs);
    Py_XDECREF(scores);
    parse_free(&s);
    parse_free(&second);
    PyBuffer_Release(&buffer);
    return result;
}

/* ------------------------------------------------------------------------- formatting */
static const char PAIRS[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";

/* The decimal digits of v, two at a time. */
static char *put_integer(char *out, uint64_t v) {
    char digits[24];
    char *end = digits + sizeof(digits), *p = end;
    while (v >= 100) {
        p -= 2;
        memcpy(p, PAIRS + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, PAIRS + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    memcpy(out, p, (size_t)(end - p));
    return out + (end - p);
}

/* f"{s:.6f}": the exact binary value of s rounded half to even at the sixth decimal, as Python (and
 * glibc's printf) round it. Below 1e12 in integer arithmetic: |s| = mantissa / 2^shift exactly, so
 * mantissa * 10^6 (< 2^73) split at bit `shift` gives the whole micros and the exact remainder. Huge
 * values go through snprintf. */
static char *put_score(char *out, double s) {
    double a = fabs(s);
    if (!(a < 1e12)) return out + snprintf(out, 400, "%.6f", s);
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int exponent = (int)(bits >> 52);
    uint64_t mantissa = bits & ((1ULL << 52) - 1);
    if (exponent) mantissa |= 1ULL << 52; /* normal; subnormals have the exponent of 1 */
    int shift = 1075 - (exponent ? exponent : 1); /* at least 13 below 1e12 */
    uint64_t micros = 0;
    if (shift < 128) { /* else |s| < 2^-75: zero micros */
        unsigned __int128 scaled = (unsigned __int128)mantissa * 1000000u;
        unsigned __int128 whole = scaled >> shift, rest = scaled - (whole << shift);
        unsigned __int128 half = (unsigned __int128)1 << (shift - 1);
        micros = (uint64_t)whole + (rest > half || (rest == half && (whole & 1)));
    }
    if (signbit(s)) *out++ = '-';
    out = put_integer(out, micros / 1000000);
    *out++ = '.';
    uint32_t part = (uint32_t)(micros % 1000000);
    memcpy(out, PAIRS + 2 * (part / 10000), 2);
    memcpy(out + 2, PAIRS + 2 * (part / 100 % 100), 2);
    memcpy(out + 4, PAIRS + 2 * (part % 100), 2);
    return out + 6;
}

typedef struct {
    char *data;
    size_t used, room;
} Buffer;

static int reserve(Buffer *b, size_t more) {
    if (b->used + more <= b->room) return 0;
    size_t room = b->room ? b->room : 1 << 16;
    while (room < b->used + more) room *= 2;
    char *data = realloc(b->data, room);
    if (!data) return -1;
    b->data = data;
    b->room = room;
    return 0;
}

PyDoc_STRVAR(format_doc,
             "format(qcodes, query_data, query_offsets, docs, doc_numbers, doc_data, doc_offsets, scores, row_offsets, first, "
             "tag, trec) -> bytes\n\n"
             "Lines for rows first, first + 1, ... of a run: qcodes/docs int32 codes, scores float64; a row's "
             "rank comes from row_offsets (int64, where each query's rows start). Query ids come from "
             "(query_data, query_offsets int64); doc ids from doc_numbers (int64, when not None) or "
             "(doc_data, doc_offsets int64).");

/* A string's [start, end) in a (data, offsets) pair when it lies inside data; 0 otherwise. */
static inline int span_of(const int64_t *offsets, int64_t count, int64_t data_len, int64_t code, int64_t *start,
                          int64_t *len) {
    if (code < 0 || code >= count) return 0;
    *start = offsets[code];
    *len = offsets[code + 1] - *start;
    return *start >= 0 && *len >= 0 && *start + *len <= data_len;
}

/* The lines of all rows; 0, -1 when out of memory, -4 when a code or offset points outside its array. */
static int format_rows(Buffer *out, Py_buffer *qcodes, Py_buffer *qdata, Py_buffer *qoffsets, Py_buffer *docs,
                       Py_buffer *dnumbers, Py_buffer *ddata, Py_buffer *doffsets, Py_buffer *scores,
                       Py_buffer *row_offsets, Py_ssize_t first, Py_buffer *tag, int trec) {
    Py_ssize_t rows = qcodes->len / 4;
    if (reserve(out, (size_t)rows * (size_t)(48 + tag->len))) return -1; /* typical lines: one allocation */
    const int32_t *q = qcodes->buf, *d = docs->buf;
    const int64_t *qo = qoffsets->buf, *dn = dnumbers ? dnumbers->buf : NULL, *dof = doffsets->buf, *r = row_offsets->buf;
    const double *sc = scores->buf;
    const char *qd = qdata->buf, *dd = ddata->buf;
    int64_t queries = qoffsets->len / 8 - 1, row_queries = row_offsets->len / 8;
    int64_t documents = dn ? dnumbers->len / 8 : doffsets->len / 8 - 1;
    for (Py_ssize_t i = 0; i < rows; i++) {
        if (i + 16 < rows && d[i + 16] >= 0 && d[i + 16] < documents) /* doc codes jump around: fetch ahead */
            __builtin_prefetch(dn ? (const void *)&dn[d[i + 16]] : (const void *)&dof[d[i + 16]]);
        int64_t qstart, qlen, dstart = 0, dlen = 20;
        if (!span_of(qo, queries, qdata->len, q[i], &qstart, &qlen) || q[i] >= row_queries) return -4;
        if (dn ? d[i] < 0 || d[i] >= documents || dn[d[i]] < 0
               : !span_of(dof, documents, ddata->len, d[i], &dstart, &dlen))
            return -4;
        if (reserve(out, (size_t)(qlen + dlen + tag->len + 480))) return -1;
        char *p = out->data + out->used;
        memcpy(p, qd + qstart, (size_t)qlen);
        p += qlen;
        if (trec) {
            memcpy(p, " Q0 ", 4);
            p += 4;
        } else {
            *p++ = '\t';
        }
        if (dn) {
            p = put_integer(p, (uint64_t)dn[d[i]]);
        } else {
            memcpy(p, dd + dstart, (size_t)dlen);
            p += dlen;
        }
        *p++ = trec ? ' ' : '\t';
        p = put_integer(p, (uint64_t)(first + i - r[q[i]] + 1)); /* rank within the query */
        if (trec) {
            *p++ = ' ';
            p = put_score(p, sc[i]);
            *p++ = ' ';
            memcpy(p, tag->buf, (size_t)tag->len);
            p += tag->len;
        }
        *p++ = '\n';
        out->used = (size_t)(p - out->data);
    }
    return 0;
}

static PyObject *format(PyObject *self, PyObject *args) {
    Py_buffer qcodes, qdata, qoffsets, docs, dnumbers, ddata, doffsets, scores, row_offsets, tag;
    Py_ssize_t first;
    PyObject *numbers_object, *result = NULL;
    int trec;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Oy*y*y*y*ny*p", &qcodes, &qdata, &qoffsets, &docs, &numbers_object, &ddata,
                          &doffsets, &scores, &row_offsets, &first, &tag, &trec))
        return NULL;
    int numbers = numbers_object != Py_None, status = -2;
    Py_ssize_t rows = qcodes.len / 4;
    if (numbers && PyObject_GetBuffer(numbers_object, &dnumbers, PyBUF_SIMPLE) < 0) {
        numbers = 0;
        status = -3;
    } else if (docs.len / 4 != rows || scores.len / 8 != rows) {
        PyErr_SetString(PyExc_ValueError, "format: columns differ in length");
    } else {
        Buffer out = {0};
        Py_BEGIN_ALLOW_THREADS
        status = format_rows(&out, &qcodes, &qdata, &qoffsets, &docs, numbers ? &dnumbers : NULL, &ddata, &doffsets,
                             &scores, &row_offsets, first, &tag, trec);
        Py_END_ALLOW_THREADS
        if (status == -4)
            PyErr_SetString(PyExc_ValueError, "format: a code or offset points outside its array");
        else if (status < 0)
            PyErr_NoMemory();
        else
            result = PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.used);
        free(out.data);
    }
    if (numbers) PyBuffer_Release(&dnumbers);
    PyBuffer_Release(&qcodes);
    PyBuffer_Release(&qdata);
    PyBuffer_Release(&qoffsets);
    PyBuffer_Release(&docs);
    PyBuffer_Release(&ddata);
    PyBuffer_Release(&doffsets);
    PyBuffer_Release(&scores);
    PyBuffer_Release(&row_offsets);
    PyBuffer_Release(&tag);
    return result;
}

/* ------------------------------------------------------------------------- merging vocabularies */
PyDoc_STRVAR(merge_doc, "merge(a, b) -> (joint, map_a, map_b): the union of two sorted distinct int64 arrays (bytearrays) "
                        "and the int32 position of each input value in it (at most 2**31 - 1 values together).");


static PyObject *merge(PyObject *self, PyObject *args) {
    Py_buffer a, b;
    if (!PyArg_ParseTuple(args, "y*y*", &a, &b)) return NULL;
    Py_ssize_t na = a.len / 8, nb = b.len / 8;
    if (na + nb > INT32_MAX) {
        PyBuffer_Release(&a);
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "merge: more than 2**31 - 1 values");
        return NULL;
    }
    PyObject *joint = PyByteArray_FromStringAndSize(NULL, (na + nb) * 8), *map_a = PyByteArray_FromStringAndSize(NULL, na * 4),
             *map_b = PyByteArray_FromStringAndSize(NULL, nb * 4);
    PyObject *result = NULL;
    if (joint && map_a && map_b) {
        const int64_t *x = a.buf, *y = b.buf;
        int64_t *out = (int64_t *)PyByteArray_AS_STRING(joint);
        int32_t *ma = (int32_t *)PyByteArray_AS_STRING(map_a), *mb = (int32_t *)PyByteArray_AS_STRING(map_b);
        Py_ssize_t i = 0, j = 0, n = 0;
        Py_BEGIN_ALLOW_THREADS
        while (i < na || j < nb) {
            if (j == nb || (i < na && x[i] < y[j])) {
                ma[i] = (int32_t)n;
                out[n++] = x[i++];
            } else if (i == na || y[j] < x[i]) {
                mb[j] = (int32_t)n;
                out[n++] = y[j++];
            } else {
                ma[i] = mb[j] = (int32_t)n;
                out[n++] = x[i++];
                j++;
            }
        }
        Py_END_ALLOW_THREADS
        if (PyByteArray_Resize(joint, n * 8) == 0) result = Py_BuildValue("(OOO)", joint, map_a, map_b);
    }
    Py_XDECREF(joint);
    Py_XDECREF(map_a);
    Py_XDECREF(map_b);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

/* ------------------------------------------------------------------------- interning numbers */
PyDoc_STRVAR(intern_doc, "intern(numbers, top) -> (vocabulary, codes): the sorted distinct values of an int64 array "
                         "(bytearray) whose values lie in [0, top], and the int32 code (bytearray) of each value: "
                         "its position in vocabulary. Through a bitmap of the id space and the running count of "
                         "its bits, which stay in cache where tables indexed by id would not.");

static PyObject *intern_numbers(PyObject *self, PyObject *args) {
    Py_buffer buffer;
    long long top;
    if (!PyArg_ParseTuple(args, "y*L", &buffer, &top)) return NULL;
    const int64_t *values = buffer.buf;
    Py_ssize_t n = buffer.len / 8;
    PyObject *vocabulary = NULL, *codes = NULL, *result = NULL;
    uint64_t *bits = NULL;
    uint32_t *before = NULL;
    int within = top >= 0 && top < INT64_MAX - 64 && n < INT32_MAX;
    for (Py_ssize_t i = 0; within && i < n; i++) within = values[i] >= 0 && values[i] <= top;
    if (!within) {
        PyErr_SetString(PyExc_ValueError, "intern: values must lie in [0, top] and number fewer than 2**31");
        goto done;
    }
    size_t words = (size_t)(top / 64 + 1);
    bits = calloc(words, sizeof(uint64_t));
    before = malloc(words * sizeof(uint32_t));
    if (!bits || !before) {
        PyErr_NoMemory();
        goto done;
    }
    uint32_t distinct = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) bits[values[i] >> 6] |= 1ULL << (values[i] & 63);
    for (size_t w = 0; w < words; w++) {
        before[w] = distinct;
        distinct += (uint32_t)__builtin_popcountll(bits[w]);
    }
    Py_END_ALLOW_THREADS
    vocabulary = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)distinct * 8);
    codes = vocabulary ? PyByteArray_FromStringAndSize(NULL, n * 4) : NULL;
    if (!codes) goto done;
    int64_t *ids = (int64_t *)PyByteArray_AS_STRING(vocabulary);
    int32_t *out = (int32_t *)PyByteArray_AS_STRING(codes);
    Py_BEGIN_ALLOW_THREADS
    for (size_t w = 0, k = 0; w < words; w++)
        for (uint64_t word = bits[w]; word; word &= word - 1) ids[k++] = (int64_t)(w * 64 + (size_t)__builtin_ctzll(word));
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t word = bits[values[i] >> 6] & ((1ULL << (values[i] & 63)) - 1);
        out[i] = (int32_t)(before[values[i] >> 6] + (uint32_t)__builtin_popcountll(word));
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(OO)", vocabulary, codes);
done:
    Py_XDECREF(vocabulary);
    Py_XDECREF(codes);
    free(bits);
    free(before);
    PyBuffer_Release(&buffer);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, parse_doc},
    {"format", format, METH_VARARGS, format_doc},
    {"merge", merge, METH_VARARGS, merge_doc},
    {"intern", intern_numbers, METH_VARARGS, intern_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_runio",
    .m_doc = "Fast run file parsing and formatting.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__runio(void) {
    init_classes();
    return PyModule_Create(&module);
}
