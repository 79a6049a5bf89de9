/*
 * A cache of freed chunks of Python's frame stack, for reuse.
 *
 * CPython 3.11 keeps the frames of a thread in chunks of 16 KiB that it
 * takes from the arena allocator, which maps fresh memory, and unmaps a
 * chunk as soon as the last frame in it returns. Code whose call depth goes
 * back and forth across the end of a chunk maps a chunk and touches its
 * fresh pages at each crossing. Importing Great Expectations in a bare
 * interpreter crossed 37 to 39 thousand times.
 *
 * install() wraps the arena allocator of the process: blocks of the chunk
 * size that Python frees go to a small cache, up to a limit, and the next
 * request of that size takes one from it. Every other request goes to the
 * allocator that was in place before. A mutex guards the cache, because
 * CPython documents that PyThreadState_Delete, which frees a thread's
 * chunks, may run without the GIL. Frames are pushed and popped with the
 * GIL held, as is a fork from Python, so a fork finds the mutex free unless
 * a thread was deleting its state then. A child starts with a fresh mutex
 * for that case.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>

#define MAX_KEPT 64

static PyObjectArenaAllocator previous;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static size_t kept_size;
static int kept_limit;
static int kept_count;
static void *kept[MAX_KEPT];
static unsigned long long reused;
static int installed;

static void *
arena_alloc(void *context, size_t size)
{
    void *block = NULL;
    if (size == kept_size) {
        pthread_mutex_lock(&mutex);
        if (kept_count > 0) {
            block = kept[--kept_count];
            reused++;
        }
        pthread_mutex_unlock(&mutex);
        if (block != NULL) {
            return block;
        }
    }
    return previous.alloc(previous.ctx, size);
}

static void
arena_free(void *context, void *block, size_t size)
{
    if (size == kept_size && block != NULL) {
        int cached = 0;
        pthread_mutex_lock(&mutex);
        if (kept_count < kept_limit) {
            kept[kept_count++] = block;
            cached = 1;
        }
        pthread_mutex_unlock(&mutex);
        if (cached) {
            return;
        }
    }
    previous.free(previous.ctx, block, size);
}

static void
reset_mutex_in_child(void)
{
    pthread_mutex_init(&mutex, NULL);
}

static PyObject *
install(PyObject *module, PyObject *args)
{
    Py_ssize_t size;
    int limit;
    if (!PyArg_ParseTuple(args, "ni:install", &size, &limit)) {
        return NULL;
    }
    if (size <= 0 || limit < 0 || limit > MAX_KEPT) {
        PyErr_Format(PyExc_ValueError,
                     "invalid size %zd or limit %d: the size must be positive and the "
                     "limit from 0 to %d", size, limit, MAX_KEPT);
        return NULL;
    }
    if (installed) {
        if ((size_t)size != kept_size || limit != kept_limit) {
            PyErr_Format(PyExc_RuntimeError,
                         "the chunk cache is installed already with size %zu and limit %d, "
                         "not size %zd and limit %d",
                         kept_size, kept_limit, size, limit);
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    int error = pthread_atfork(NULL, NULL, reset_mutex_in_child);
    if (error != 0) {
        errno = error;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    kept_size = (size_t)size;
    kept_limit = limit;
    PyObject_GetArenaAllocator(&previous);
    PyObjectArenaAllocator wrapped = {NULL, arena_alloc, arena_free};
    PyObject_SetArenaAllocator(&wrapped);
    installed = 1;
    Py_RETURN_TRUE;
}

static PyObject *
stats(PyObject *module, PyObject *unused)
{
    unsigned long long served;
    int cached;
    if (!installed) {
        return Py_BuildValue("{s:O,s:i,s:K}", "installed", Py_False, "kept", 0, "reused", 0ULL);
    }
    pthread_mutex_lock(&mutex);
    served = reused;
    cached = kept_count;
    pthread_mutex_unlock(&mutex);
    return Py_BuildValue("{s:O,s:i,s:K}", "installed", Py_True, "kept", cached, "reused", served);
}

static PyMethodDef methods[] = {
    {"install", install, METH_VARARGS,
     "install(size, limit) -> bool\n\nKeep up to limit freed arena blocks of size bytes for "
     "reuse. Returns False if installed already with the same size and limit."},
    {"stats", stats, METH_NOARGS,
     "stats() -> dict\n\nWhether the cache is installed, how many blocks it holds, and how many "
     "requests it served."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_stack_chunks",
    "A cache of freed chunks of Python's frame stack (see dupmon.frame_stack).", -1, methods,
};

PyMODINIT_FUNC
PyInit__stack_chunks(void)
{
    return PyModule_Create(&module_definition);
}
