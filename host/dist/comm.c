/* The communicator: MPI_COMM_WORLD when built with MPI and started by an MPI launcher,
 * otherwise one process. Only the thread that created it calls MPI (MPI_THREAD_FUNNELED):
 * the loader threads never communicate. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/comm.h"

#ifdef CLNET_HAVE_MPI
#include <mpi.h>
#endif

#define MAX_PENDING 1024 /* outstanding bucket all-reduces; more than a step ever has */

struct clnet_comm {
  int32_t rank, size, local_rank, local_size;
  int32_t mpi; /* 1: this communicator initialised MPI and finalizes it */
#ifdef CLNET_HAVE_MPI
  MPI_Request pending[MAX_PENDING];
  int32_t n_pending;
#endif
};

int32_t clnet_mpi_built(void) {
#ifdef CLNET_HAVE_MPI
  return 1;
#else
  return 0;
#endif
}

int32_t clnet_mpi_launched(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; ++i)
    if (getenv(vars[i])) return 1;
  return 0;
}

#ifdef CLNET_HAVE_MPI
static clnet_status mpi_error(int code, const char *what) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(code, msg, &len);
  return clnet_set_error(CLNET_ERR_IO, "%s failed: %s", what, msg);
}
#define MPI_TRY(call, what)                          \
  do {                                               \
    int mpi_rc_ = (call);                            \
    if (mpi_rc_ != MPI_SUCCESS) return mpi_error(mpi_rc_, what); \
  } while (0)
#endif

clnet_status clnet_comm_create(int *argc, char ***argv, clnet_comm **out) {
  *out = NULL;
  clnet_comm *c = calloc(1, sizeof *c);
  if (!c) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "communicator");
  c->size = c->local_size = 1;
#ifdef CLNET_HAVE_MPI
  if (clnet_mpi_launched()) {
    int initialised = 0, provided = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        free(c);
        return clnet_set_error(CLNET_ERR_IO, "MPI_Init_thread failed");
      }
      c->mpi = 1;
    }
    /* errors come back as codes, so a failed collective is reported like any other error */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int r = 0, s = 1, lr = 0, ls = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, r, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
      MPI_Comm_rank(local, &lr);
      MPI_Comm_size(local, &ls);
      MPI_Comm_free(&local);
    }
    c->rank = r;
    c->size = s;
    c->local_rank = lr;
    c->local_size = ls;
  }
#else
  (void)argc;
  (void)argv;
  /* several processes of one job that cannot talk would each train alone and overwrite each
   * other's output directory */
  static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    const char *v = getenv(sizes[i]);
    if (v && atoi(v) > 1) {
      free(c);
      return clnet_set_error(CLNET_ERR_UNSUPPORTED,
                             "started by an MPI launcher as one of %s processes, but this clnet was built without "
                             "MPI; install libopenmpi-dev and rebuild (cmake -DCLNET_MPI=ON)", v);
    }
  }
#endif
  *out = c;
  return CLNET_SUCCESS;
}

void clnet_comm_free(clnet_comm *c) {
  if (!c) return;
#ifdef CLNET_HAVE_MPI
  if (c->mpi) MPI_Finalize();
#endif
  free(c);
}

int32_t clnet_comm_rank(const clnet_comm *c) { return c ? c->rank : 0; }
int32_t clnet_comm_size(const clnet_comm *c) { return c ? c->size : 1; }
int32_t clnet_comm_local_rank(const clnet_comm *c) { return c ? c->local_rank : 0; }
int32_t clnet_comm_local_size(const clnet_comm *c) { return c ? c->local_size : 1; }

clnet_status clnet_comm_allreduce_sum_f64(clnet_comm *c, double *values, int32_t n) {
  if (!c || c->size == 1) return CLNET_SUCCESS;
#ifdef CLNET_HAVE_MPI
  MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce (sum)");
#else
  (void)values;
  (void)n;
#endif
  return CLNET_SUCCESS;
}

clnet_status clnet_comm_allreduce_max_i32(clnet_comm *c, int32_t *values, int32_t n) {
  if (!c || c->size == 1) return CLNET_SUCCESS;
#ifdef CLNET_HAVE_MPI
  MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_INT32_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce (max)");
#else
  (void)values;
  (void)n;
#endif
  return CLNET_SUCCESS;
}

clnet_status clnet_comm_bcast(clnet_comm *c, void *data, size_t bytes, int32_t root) {
  if (!c || c->size == 1) return CLNET_SUCCESS;
#ifdef CLNET_HAVE_MPI
  for (size_t off = 0; off < bytes;) { /* MPI counts are int */
    size_t chunk = bytes - off > (1u << 30) ? (1u << 30) : bytes - off;
    MPI_TRY(MPI_Bcast((char *)data + off, (int)chunk, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    off += chunk;
  }
#else
  (void)data;
  (void)bytes;
  (void)root;
#endif
  return CLNET_SUCCESS;
}

clnet_status clnet_comm_allgather_u64(clnet_comm *c, uint64_t value, uint64_t *all) {
  all[0] = value;
  if (!c || c->size == 1) return CLNET_SUCCESS;
#ifdef CLNET_HAVE_MPI
  MPI_TRY(MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
#endif
  return CLNET_SUCCESS;
}

void clnet_comm_abort(clnet_comm *c, int code) {
  if (!c || c->size == 1) return;
#ifdef CLNET_HAVE_MPI
  MPI_Abort(MPI_COMM_WORLD, code);
#else
  (void)code;
#endif
}

clnet_status clnet_comm_iallreduce_sum_f32(clnet_comm *c, float *data, int64_t n) {
  if (!c || c->size == 1 || n == 0) return CLNET_SUCCESS;
#ifdef CLNET_HAVE_MPI
  if (c->n_pending == MAX_PENDING) CLNET_TRY(clnet_comm_waitall(c));
  for (int64_t off = 0; off < n;) {
    int64_t chunk = n - off > (1 << 28) ? (1 << 28) : n - off;
    if (c->n_pending == MAX_PENDING) CLNET_TRY(clnet_comm_waitall(c));
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, data + off, (int)chunk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                           &c->pending[c->n_pending]),
            "MPI_Iallreduce (gradients)");
    c->n_pending++;
    off += chunk;
  }
#else
  (void)data;
#endif
  return CLNET_SUCCESS;
}

clnet_status clnet_comm_progress(clnet_comm *c) {
#ifdef CLNET_HAVE_MPI
  if (c && c->n_pending) {
    int done = 0;
    MPI_TRY(MPI_Testall(c->n_pending, c->pending, &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    if (done) c->n_pending = 0;
  }
#else
  (void)c;
#endif
  return CLNET_SUCCESS;
}

clnet_status clnet_comm_waitall(clnet_comm *c) {
#ifdef CLNET_HAVE_MPI
  if (c && c->n_pending) {
    int n = c->n_pending;
    c->n_pending = 0;
    MPI_TRY(MPI_Waitall(n, c->pending, MPI_STATUSES_IGNORE), "MPI_Waitall (gradients)");
  }
#else
  (void)c;
#endif
  return CLNET_SUCCESS;
}
