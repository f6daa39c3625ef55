#ifndef LUCERNA_CBLAS_SHIM_H
#define LUCERNA_CBLAS_SHIM_H
#include <stddef.h>
#include <cblas.h>
/* OpenBLAS thread control (declared in openblas_config.h / cblas.h of OpenBLAS). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
/* LAPACK routines of OpenBLAS (Fortran symbols; the trailing size_t are the lengths gfortran passes for
   character arguments). Column-major. */
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
             const double *vl, const double *vu, const int *il, const int *iu, const double *abstol, int *m,
             double *w, double *z, const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
             const int *liwork, int *info, size_t jobz_length, size_t range_length, size_t uplo_length);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
             const int *lwork, int *info);
#endif
