/* pool.c - see pool.h
 *
 * Lock order: pool.lock is a leaf; jobs run without it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "pool.h"

struct pool_job {
	struct pool_job *next;
	pool_job_fn fn;
	void *arg;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pool_job *head, *tail;
	int stopping;
	unsigned n_threads;
	pthread_t *threads;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		struct pool_job *job;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		job = p->head;
		if (!job) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = job->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);

		job->fn(job->arg);
		free(job);
	}
}

struct pool *pool_new(unsigned n_threads)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->threads = calloc(n_threads, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (; p->n_threads < n_threads; p->n_threads++)
		if (pthread_create(&p->threads[p->n_threads], NULL, pool_worker, p) != 0)
			break;
	if (p->n_threads == 0) {
		pool_free(p);
		return NULL;
	}
	return p;
}

int pool_submit(struct pool *p, pool_job_fn fn, void *arg)
{
	struct pool_job *job = malloc(sizeof(*job));

	if (!job)
		return -ENOMEM;
	job->next = NULL;
	job->fn = fn;
	job->arg = arg;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}
