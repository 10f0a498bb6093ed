/* jieba's get_DAG + calc (the dictionary dynamic programme of Tokenizer.__cut_DAG) for one clause, in C.
 *
 * Optional accelerator of zhplm.arch.tokenization.segment, built at install (setup.py, optional=True); without
 * it the pure-Python route there is used. The result must be jieba's to the bit, so the float operations are
 * jieba's, in jieba's order, with libm's log as Python's math.log calls it:
 *     score(i, x) = (log(FREQ[clause[i:x+1]]) - log(total)) + best[x + 1]
 *     best[i], end[i] = max((score(i, x), x) for x in DAG[i])   -- a tie goes to the larger x
 * where DAG[i] lists the x whose fragment has a non-zero frequency (the prefix walk stops at the first fragment
 * not in FREQ), or just i with frequency 1 when none does. Compile with -ffp-contract=off.
 *
 * Python dict lookups of fresh substrings were the cost (an object, a hash and a cache miss per fragment), so
 * `table(FREQ, logtotal)` copies the dictionary once into an open-addressing hash table over code points,
 * hashed incrementally as a fragment grows by one character; `route(table, clause)` walks it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

typedef struct {
    uint64_t hash;
    uint32_t offset; /* into the code point pool */
    uint32_t length;
    double logp; /* log(freq) - logtotal of a word */
    int word;    /* 0: only the prefix of a word (frequency 0) */
} Entry;

typedef struct {
    Entry *entries;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    Py_UCS4 *pool;
    uint64_t mask;
    double logtotal;
} Table;

static uint64_t step(uint64_t h, Py_UCS4 c) { return (h ^ (uint64_t)c) * FNV_PRIME; }

static void table_free(PyObject *capsule) {
    Table *t = PyCapsule_GetPointer(capsule, "zhplm.jieba_table");
    if (t == NULL) return;
    PyMem_Free(t->entries);
    PyMem_Free(t->slots);
    PyMem_Free(t->pool);
    PyMem_Free(t);
}

/* math.log(value) for an int or float frequency, as CPython computes it (m_log: log() of the double) */
static int freq_log(PyObject *value, double *out) {
    double x;
    if (PyFloat_Check(value)) {
        x = PyFloat_AS_DOUBLE(value);
    } else {
        x = PyLong_AsDouble(value);
        if (x == -1.0 && PyErr_Occurred()) return -1;
    }
    if (!(x > 0.0) || !isfinite(x)) {
        PyErr_SetString(PyExc_ValueError, "a jieba word frequency must be a positive number");
        return -1;
    }
    *out = log(x);
    return 0;
}

static PyObject *table(PyObject *self, PyObject *args) {
    PyObject *freq, *key, *value;
    double logtotal;
    Py_ssize_t pos = 0, count, chars = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!d", &PyDict_Type, &freq, &logtotal)) return NULL;
    count = PyDict_Size(freq);
    while (PyDict_Next(freq, &pos, &key, &value)) {
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "jieba's FREQ has a key that is not a str");
            return NULL;
        }
        chars += PyUnicode_GET_LENGTH(key);
    }
    if (count >= UINT32_MAX / 4 || chars >= UINT32_MAX) return PyErr_NoMemory();
    uint64_t size = 1;
    while (size < (uint64_t)count * 2 + 2) size <<= 1;
    Table *t = PyMem_Calloc(1, sizeof(Table));
    if (t == NULL) return PyErr_NoMemory();
    t->entries = PyMem_Malloc(((size_t)count + 1) * sizeof(Entry));
    t->slots = PyMem_Calloc((size_t)size, sizeof(uint32_t));
    t->pool = PyMem_Malloc(((size_t)chars + 1) * sizeof(Py_UCS4));
    t->mask = size - 1;
    t->logtotal = logtotal;
    PyObject *capsule = NULL;
    if (t->entries == NULL || t->slots == NULL || t->pool == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    capsule = PyCapsule_New(t, "zhplm.jieba_table", table_free);
    if (capsule == NULL) goto error;
    uint32_t n = 0, offset = 0;
    pos = 0;
    while (PyDict_Next(freq, &pos, &key, &value)) {
        Entry *e = &t->entries[n];
        Py_ssize_t length = PyUnicode_GET_LENGTH(key);
        int kind = PyUnicode_KIND(key);
        const void *data = PyUnicode_DATA(key);
        uint64_t h = FNV_OFFSET;
        for (Py_ssize_t k = 0; k < length; k++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, k);
            t->pool[offset + k] = c;
            h = step(h, c);
        }
        e->hash = h;
        e->offset = offset;
        e->length = (uint32_t)length;
        offset += (uint32_t)length;
        int truth = PyObject_IsTrue(value);
        if (truth < 0) goto error_capsule;
        e->word = truth;
        e->logp = 0.0;
        if (truth) {
            if (freq_log(value, &e->logp) < 0) goto error_capsule;
            e->logp = e->logp - logtotal;
        }
        uint64_t slot = h & t->mask;
        while (t->slots[slot]) slot = (slot + 1) & t->mask;
        t->slots[slot] = ++n;
    }
    return capsule;
error_capsule:
    Py_DECREF(capsule); /* frees t */
    return NULL;
error:
    PyMem_Free(t->entries);
    PyMem_Free(t->slots);
    PyMem_Free(t->pool);
    PyMem_Free(t);
    return NULL;
}

static const Entry *find(const Table *t, uint64_t h, const Py_UCS4 *chars, uint32_t length) {
    uint64_t slot = h & t->mask;
    uint32_t index;
    while ((index = t->slots[slot]) != 0) {
        const Entry *e = &t->entries[index - 1];
        if (e->hash == h && e->length == length &&
            memcmp(t->pool + e->offset, chars, length * sizeof(Py_UCS4)) == 0)
            return e;
        slot = (slot + 1) & t->mask;
    }
    return NULL;
}

static PyObject *route(PyObject *self, PyObject *args) {
    PyObject *capsule, *clause, *ends = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "OU", &capsule, &clause)) return NULL;
    const Table *t = PyCapsule_GetPointer(capsule, "zhplm.jieba_table");
    if (t == NULL) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(clause);
    Py_UCS4 *chars = PyUnicode_AsUCS4Copy(clause);
    double *best = PyMem_Malloc((size_t)(n + 1) * sizeof(double));
    if (chars == NULL || best == NULL) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    ends = PyList_New(n);
    if (ends == NULL) goto done;
    best[n] = 0.0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        double top = 0.0;
        Py_ssize_t end = i;
        int found = 0;
        uint64_t h = FNV_OFFSET;
        for (Py_ssize_t j = i; j < n; j++) {
            h = step(h, chars[j]);
            const Entry *e = find(t, h, chars + i, (uint32_t)(j - i + 1));
            if (e == NULL) break; /* not even the prefix of a word */
            if (!e->word) continue;
            double score = e->logp + best[j + 1];
            if (!found || score >= top) { /* a tie: the later (longer) word */
                top = score;
                end = j;
                found = 1;
            }
        }
        if (!found) top = (0.0 - t->logtotal) + best[i + 1]; /* the character alone, log(1) - logtotal */
        best[i] = top;
        PyObject *e = PyLong_FromSsize_t(end);
        if (e == NULL) {
            Py_CLEAR(ends);
            goto done;
        }
        PyList_SET_ITEM(ends, i, e);
    }
done:
    PyMem_Free(chars);
    PyMem_Free(best);
    return ends;
}

static PyMethodDef methods[] = {
    {"table", table, METH_VARARGS, "table(freq, logtotal) -> jieba's dictionary as a C hash table (a capsule)"},
    {"route", route, METH_VARARGS,
     "route(table, clause) -> end index of the best word at each position (jieba's get_DAG + calc)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jieba_route", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jieba_route(void) { return PyModule_Create(&module); }
