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

/* finalseg's HMM: viterbi(run, "BMES", start_P, trans_P, emit_P) for a run of [\u4E00-\u9FD5] characters.
 * The same sums in the same order (V[t-1][y0] + trans[y0][y]) + emit[y][c], missing entries MIN_FLOAT, and
 * max over (prob, state) tuples: a tie goes to the later letter (B < E < M < S). */
#define HAN_FIRST 0x4E00
#define HAN_LAST 0x9FD5

typedef struct {
    double start[4];  /* B M E S */
    double trans[8];  /* E>B S>B M>M B>M S>S E>S B>E M>E */
    double *emit;     /* 4 per character HAN_FIRST..HAN_LAST */
} Hmm;

static void hmm_free(PyObject *capsule) {
    Hmm *h = PyCapsule_GetPointer(capsule, "zhplm.jieba_hmm");
    if (h == NULL) return;
    PyMem_Free(h->emit);
    PyMem_Free(h);
}

static int doubles(PyObject *seq, double *out, Py_ssize_t count) {
    PyObject *fast = PySequence_Fast(seq, "a sequence of floats");
    if (fast == NULL) return -1;
    if (PySequence_Fast_GET_SIZE(fast) != count) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "expected %zd floats", count);
        return -1;
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        out[k] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, k));
        if (out[k] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

static PyObject *hmm(PyObject *self, PyObject *args) {
    PyObject *start, *trans, *emit;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO", &start, &trans, &emit)) return NULL;
    Py_ssize_t count = (Py_ssize_t)(HAN_LAST - HAN_FIRST + 1) * 4;
    Hmm *h = PyMem_Calloc(1, sizeof(Hmm));
    if (h == NULL) return PyErr_NoMemory();
    h->emit = PyMem_Malloc((size_t)count * sizeof(double));
    if (h->emit == NULL) {
        PyMem_Free(h);
        return PyErr_NoMemory();
    }
    if (doubles(start, h->start, 4) < 0 || doubles(trans, h->trans, 8) < 0 || doubles(emit, h->emit, count) < 0) {
        PyMem_Free(h->emit);
        PyMem_Free(h);
        return NULL;
    }
    PyObject *capsule = PyCapsule_New(h, "zhplm.jieba_hmm", hmm_free);
    if (capsule == NULL) {
        PyMem_Free(h->emit);
        PyMem_Free(h);
    }
    return capsule;
}

static PyObject *hmm_path(PyObject *self, PyObject *args) {
    PyObject *capsule, *run, *path = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "OU", &capsule, &run)) return NULL;
    const Hmm *h = PyCapsule_GetPointer(capsule, "zhplm.jieba_hmm");
    if (h == NULL) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(run);
    if (n == 0) return PyBytes_FromStringAndSize("", 0);
    int kind = PyUnicode_KIND(run);
    const void *data = PyUnicode_DATA(run);
    unsigned char *back = PyMem_Malloc((size_t)n * 4);
    if (back == NULL) return PyErr_NoMemory();
    const double *tr = h->trans;
    double b = 0, m = 0, e = 0, s = 0;
    for (Py_ssize_t t = 0; t < n; t++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, t);
        if (c < HAN_FIRST || c > HAN_LAST) {
            PyErr_SetString(PyExc_ValueError, "the HMM reads only characters U+4E00-U+9FD5");
            goto done;
        }
        const double *x = h->emit + (size_t)(c - HAN_FIRST) * 4;
        if (t == 0) {
            b = h->start[0] + x[0];
            m = h->start[1] + x[1];
            e = h->start[2] + x[2];
            s = h->start[3] + x[3];
            continue;
        }
        unsigned char *bp = back + (t - 1) * 4;
        double pe = (e + tr[0]) + x[0], ps = (s + tr[1]) + x[0]; /* B from E or S; a tie: S */
        double nb = ps >= pe ? ps : pe;
        bp[0] = ps >= pe ? 3 : 2;
        double pm = (m + tr[2]) + x[1], pb = (b + tr[3]) + x[1]; /* M from M or B; a tie: M */
        double nm = pb > pm ? pb : pm;
        bp[1] = pb > pm ? 0 : 1;
        double ps2 = (s + tr[4]) + x[3], pe2 = (e + tr[5]) + x[3]; /* S from S or E; a tie: S */
        double ns = pe2 > ps2 ? pe2 : ps2;
        bp[3] = pe2 > ps2 ? 2 : 3;
        double pb2 = (b + tr[6]) + x[2], pm2 = (m + tr[7]) + x[2]; /* E from B or M; a tie: M */
        double ne = pm2 >= pb2 ? pm2 : pb2;
        bp[2] = pm2 >= pb2 ? 1 : 0;
        b = nb;
        m = nm;
        e = ne;
        s = ns;
    }
    path = PyBytes_FromStringAndSize(NULL, n);
    if (path == NULL) goto done;
    char *out = PyBytes_AS_STRING(path);
    unsigned char state = s >= e ? 3 : 2; /* max over (V, y) for y in "ES" */
    out[n - 1] = (char)state;
    for (Py_ssize_t t = n - 1; t > 0; t--) {
        state = back[(t - 1) * 4 + state];
        out[t - 1] = (char)state;
    }
done:
    PyMem_Free(back);
    return path;
}

static PyMethodDef methods[] = {
    {"hmm", hmm, METH_VARARGS,
     "hmm(start 4 floats, trans 8 floats, emit 4 floats a character U+4E00-U+9FD5) -> the HMM (a capsule)"},
    {"hmm_path", hmm_path, METH_VARARGS, "hmm_path(hmm, run) -> finalseg.viterbi's states, bytes of 0-3 (BMES)"},
    {"table", table, METH_VARARGS, "table(freq, logtotal) -> jieba's dictionary as a C hash table (a capsule)"},
    {"route", route, METH_VARARGS,
     "route(table, clause) -> end index of the best word at each position (jieba's get_DAG + calc)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jieba_route", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jieba_route(void) { return PyModule_Create(&module); }
