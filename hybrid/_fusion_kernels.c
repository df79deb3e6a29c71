/* Inner loops of hybrid.fusion that numpy can only do by sorting.
 *
 * union(sides): per query, the distinct documents of several runs (rows grouped by ascending query;
 *               a row's document is doc_map[doc code]), by hashing instead of sorting, and the union
 *               row of every input row.
 * rank(offsets, scores, hits): per query, rows by score descending, cut after `hits` (rows tied with the
 *               last kept score are kept too, so the caller can break those ties by document id).
 * Arrays come in through the buffer protocol; results are bytearrays for numpy.frombuffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_keyset.h"

static PyObject *new_array(Py_ssize_t count, Py_ssize_t width) {
    return PyByteArray_FromStringAndSize(NULL, count * width);
}

/* Whether every code lies in [0, count). */
static int codes_within(const int32_t *codes, Py_ssize_t n, Py_ssize_t count) {
    int32_t low = 0, high = -1;
    for (Py_ssize_t i = 0; i < n; i++) { /* branch-free min/max: vectorised by the compiler */
        low = codes[i] < low ? codes[i] : low;
        high = codes[i] > high ? codes[i] : high;
    }
    return low >= 0 && (n == 0 || high < count);
}

/* ------------------------------------------------------------------------- union */
typedef struct {
    Py_buffer queries, docs, doc_map; /* int32 query codes, int32 doc codes, int32 joint code per doc code */
    Py_ssize_t rows, at;
    int64_t *union_rows;
} Side;

/* Fills the union columns; returns the union size, or -1 when out of memory. */
static int64_t union_rows(Side *sides, int count, int32_t *uq, int32_t *uk) {
    KeySet set = {0};
    if (keyset_reset(&set, 1 << 12) < 0) return -1;
    int64_t size = 0;
    for (;;) {
        int32_t query = INT32_MAX;
        int any = 0;
        for (int s = 0; s < count; s++) {
            if (sides[s].at < sides[s].rows) {
                int32_t q = ((const int32_t *)sides[s].queries.buf)[sides[s].at];
                if (!any || q < query) query = q;
                any = 1;
            }
        }
        if (!any) break;
        int64_t first = size;
        keyset_new_group(&set);
        for (int s = 0; s < count; s++) {
            Side *side = &sides[s];
            const int32_t *qs = side->queries.buf, *ds = side->docs.buf;
            const int32_t *map = side->doc_map.buf;
            for (; side->at < side->rows && qs[side->at] == query; side->at++) {
                if (side->at + 16 < side->rows) /* doc codes jump around the map: fetch ahead */
                    __builtin_prefetch(&map[ds[side->at + 16]]);
                int64_t key = map[ds[side->at]], row = keyset_find_or_add(&set, key, size);
                if (row >= 0) {
                    side->union_rows[side->at] = row;
                    continue;
                }
                uq[size] = query;
                uk[size] = key;
                side->union_rows[side->at] = size++;
                if ((uint64_t)(size - first) * 2 > set.mask) { /* keep the table at most half full */
                    if (keyset_reset(&set, (set.mask + 1) * 2) < 0) return -1;
                    for (int64_t r = first; r < size; r++) keyset_find_or_add(&set, uk[r], r);
                }
            }
        }
    }
    free(set.slots);
    return size;
}

static PyObject *union_(PyObject *self, PyObject *args) {
    PyObject *list;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &list)) return NULL;
    int count = (int)PyList_GET_SIZE(list), got = 0;
    Side *sides = calloc((size_t)count + 1, sizeof(Side));
    PyObject **outputs = calloc((size_t)count + 1, sizeof(PyObject *));
    PyObject *uq = NULL, *uk = NULL, *result = NULL;
    Py_ssize_t total = 0;
    if (!sides || !outputs) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < count; got++) {
        Side *side = &sides[got];
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, got), "y*y*y*", &side->queries, &side->docs, &side->doc_map))
            goto done;
        side->rows = side->queries.len / 4;
        const char *problem = side->docs.len / 4 != side->rows ? "union: queries and docs differ in length"
                              : !codes_within(side->docs.buf, side->rows, side->doc_map.len / 4)
                                  ? "union: a doc code points outside its doc_map"
                                  : NULL;
        if (problem) {
            PyBuffer_Release(&side->queries);
            PyBuffer_Release(&side->docs);
            PyBuffer_Release(&side->doc_map);
            PyErr_SetString(PyExc_ValueError, problem);
            goto done;
        }
        total += side->rows;
        if (!(outputs[got] = new_array(side->rows, 8))) {
            got++;
            goto done;
        }
        side->union_rows = (int64_t *)PyByteArray_AS_STRING(outputs[got]);
    }
    uq = new_array(total, 4);
    uk = new_array(total, 4);
    if (!uq || !uk) goto done;
    int64_t size;
    Py_BEGIN_ALLOW_THREADS
    size = union_rows(sides, count, (int32_t *)PyByteArray_AS_STRING(uq), (int32_t *)PyByteArray_AS_STRING(uk));
    Py_END_ALLOW_THREADS
    if (size < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (PyByteArray_Resize(uq, size * 4) < 0 || PyByteArray_Resize(uk, size * 4) < 0) goto done;
    PyObject *rows = PyList_New(count);
    if (!rows) goto done;
    for (int s = 0; s < count; s++) {
        Py_INCREF(outputs[s]);
        PyList_SET_ITEM(rows, s, outputs[s]);
    }
    result = Py_BuildValue("(OON)", uq, uk, rows);
done:
    for (int s = 0; s < got; s++) {
        PyBuffer_Release(&sides[s].queries);
        PyBuffer_Release(&sides[s].docs);
        PyBuffer_Release(&sides[s].doc_map);
    }
    for (int s = 0; outputs && s < count; s++) Py_XDECREF(outputs[s]);
    Py_XDECREF(uq);
    Py_XDECREF(uk);
    free(sides);
    free(outputs);
    return result;
}

/* ------------------------------------------------------------------------- rank */
/* A row and its sort key: the score mapped to an unsigned integer that rises as the score falls. */
typedef struct {
    uint64_t key;
    int64_t row;
} Entry;

static inline uint64_t descending_key(double score) {
    score += 0.0; /* -0.0 becomes 0.0: the two compare equal */
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    uint64_t ascending = bits >> 63 ? ~bits : bits | (1ULL << 63);
    return ~ascending;
}

enum { DIGIT_BITS = 8, DIGITS = 64 / DIGIT_BITS, BUCKETS = 1 << DIGIT_BITS, SMALL = 32 };

/* Sort by key, then row: a least-significant-digit radix sort (stable, and the rows come in ascending),
 * skipping the digits every key shares; insertion sort for a few entries. `spare` holds n entries. */
static void sort_entries(Entry *e, Entry *spare, int64_t n, int64_t (*counts)[BUCKETS]) {
    if (n <= SMALL) {
        for (int64_t i = 1; i < n; i++) {
            Entry t = e[i];
            int64_t k = i;
            for (; k > 0 && t.key < e[k - 1].key; k--) e[k] = e[k - 1];
            e[k] = t;
        }
        return;
    }
    memset(counts, 0, sizeof(int64_t[DIGITS][BUCKETS]));
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < DIGITS; d++) counts[d][(e[i].key >> (d * DIGIT_BITS)) & (BUCKETS - 1)]++;
    Entry *from = e, *to = spare;
    for (int d = 0; d < DIGITS; d++) {
        int shift = d * DIGIT_BITS;
        if (counts[d][(from[0].key >> shift) & (BUCKETS - 1)] == n) continue; /* one digit for all */
        int64_t position = 0;
        for (int b = 0; b < BUCKETS; b++) {
            int64_t count = counts[d][b];
            counts[d][b] = position;
            position += count;
        }
        for (int64_t i = 0; i < n; i++) to[counts[d][(from[i].key >> shift) & (BUCKETS - 1)]++] = from[i];
        Entry *t = from;
        from = to;
        to = t;
    }
    if (from != e) memcpy(e, from, (size_t)n * sizeof(Entry));
}

static PyObject *rank(PyObject *self, PyObject *args) {
    Py_buffer offsets, scores;
    Py_ssize_t hits;
    if (!PyArg_ParseTuple(args, "y*y*n", &offsets, &scores, &hits)) return NULL;
    Py_ssize_t queries = offsets.len / 8 - 1, rows = scores.len / 8;
    const int64_t *at = offsets.buf;
    const double *sc = scores.buf;
    int64_t widest = 0;
    int valid = hits >= 0 && (queries < 0 || (at[0] >= 0 && at[queries] <= rows));
    for (Py_ssize_t q = 0; q < queries; q++) {
        valid &= at[q + 1] >= at[q];
        if (at[q + 1] - at[q] > widest) widest = at[q + 1] - at[q];
    }
    if (!valid) {
        PyBuffer_Release(&offsets);
        PyBuffer_Release(&scores);
        PyErr_SetString(PyExc_ValueError, "rank: offsets must rise from 0 to at most the number of scores");
        return NULL;
    }
    if (queries < 0) queries = 0;
    PyObject *order = new_array(rows, 8), *result = NULL;
    Entry *entries = malloc((size_t)(2 * widest + 1) * sizeof(Entry));
    int64_t(*counts)[BUCKETS] = malloc(sizeof(int64_t[DIGITS][BUCKETS]));
    if (!order || !entries || !counts) {
        PyErr_NoMemory();
    } else {
        int64_t *out = (int64_t *)PyByteArray_AS_STRING(order), kept = 0, extra = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t q = 0; q < queries; q++) {
            int64_t n = at[q + 1] - at[q];
            for (int64_t i = 0; i < n; i++) entries[i] = (Entry){descending_key(sc[at[q] + i]), at[q] + i};
            sort_entries(entries, entries + widest, n, counts);
            int64_t keep = n < hits ? n : hits;
            while (keep > 0 && keep < n && entries[keep].key == entries[keep - 1].key) keep++, extra++;
            for (int64_t i = 0; i < keep; i++) out[kept++] = entries[i].row;
        }
        Py_END_ALLOW_THREADS
        if (PyByteArray_Resize(order, kept * 8) == 0) result = Py_BuildValue("(OL)", order, (long long)extra);
    }
    Py_XDECREF(order);
    free(entries);
    free(counts);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&scores);
    return result;
}

static PyMethodDef methods[] = {
    {"union", union_, METH_VARARGS,
     "union([(queries int32, docs int32, doc_map int32), ...]) -> (queries, joint docs, [union row per "
     "input row, ...])."},
    {"rank", rank, METH_VARARGS,
     "rank(offsets int64, scores float64, hits) -> (rows, extra): rows by query, score descending, cut after "
     "hits; the extra rows past hits that tie with the last kept score are kept too."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fusion_kernels",
    .m_doc = "Inner loops of hybrid.fusion.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fusion_kernels(void) { return PyModule_Create(&module); }
