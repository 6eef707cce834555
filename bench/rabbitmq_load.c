/* bench/rabbitmq_load.c — the RabbitMQ side of bench/run_proxy_vs_rabbitmq.sh.
 *
 * The same workloads as bench/proxy_load.cpp, over AMQP 0-9-1 with
 * librabbitmq (rabbitmq-c), so the client costs little and the broker is
 * what is measured:
 *   - a durable queue, persistent messages (delivery_mode 2), B-byte bodies;
 *   - P producer threads, each its own connection, with asynchronous
 *     publisher confirms and a window of W unconfirmed messages (basic.ack
 *     with the multiple flag closes every tag up to delivery_tag);
 *   - C consumer threads, each its own connection, manual acks with a
 *     prefetch (basic.qos) and basic.ack multiple=true every N deliveries;
 *   - end-to-end rate from the first publish to the last ack.
 * --latency: one producer publishes one message at a time on a fixed
 * schedule (open loop, --rate msgs/s) and records publish->confirm latency;
 * with --with-consumer, one consumer takes and acks them meanwhile.
 * --consumers 0: publish only (the messages stay queued).
 *
 * Output: one JSON line on stdout, diagnostics on stderr; exit 0 on success.
 */
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

typedef struct {
  const char* host;
  int port;
  const char* user;
  const char* password;
  const char* queue;
  uint64_t messages;
  size_t size;
  int producers;
  int consumers;
  uint64_t window;    /* unconfirmed messages per producer */
  uint16_t prefetch;  /* basic.qos prefetch_count per consumer */
  uint64_t ack_every; /* basic.ack multiple=true every N deliveries */
  int latency;
  int latency_consumer; /* --with-consumer */
  uint64_t rate;      /* msgs/s in latency mode */
  int purge;          /* purge the queue before the run */
} options_t;

static options_t opt = {"127.0.0.1", 5672, "guest", "guest", "bench", 1000000, 128, 1, 1, 4096, 1000, 100, 0, 0, 5000, 1};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die_on_reply(amqp_rpc_reply_t r, const char* what) {
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    fprintf(stderr, "rabbitmq_load: %s: %s\n", what, amqp_error_string2(r.library_error));
  } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
             r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    amqp_channel_close_t* m = (amqp_channel_close_t*)r.reply.decoded;
    fprintf(stderr, "rabbitmq_load: %s: channel closed %u %.*s\n", what, m->reply_code,
            (int)m->reply_text.len, (char*)m->reply_text.bytes);
  } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
             r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_t* m = (amqp_connection_close_t*)r.reply.decoded;
    fprintf(stderr, "rabbitmq_load: %s: connection closed %u %.*s\n", what, m->reply_code,
            (int)m->reply_text.len, (char*)m->reply_text.bytes);
  } else {
    fprintf(stderr, "rabbitmq_load: %s: reply type %d\n", what, (int)r.reply_type);
  }
  exit(3);
}

static void die_status(int status, const char* what) {
  if (status >= 0) return;
  fprintf(stderr, "rabbitmq_load: %s: %s\n", what, amqp_error_string2(status));
  exit(3);
}

/* One connection with channel 1 open. */
static amqp_connection_state_t open_conn(void) {
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t* s = amqp_tcp_socket_new(c);
  if (!s) {
    fprintf(stderr, "rabbitmq_load: cannot create socket\n");
    exit(3);
  }
  die_status(amqp_socket_open(s, opt.host, opt.port), "connect");
  /* channel_max 0, frame_max 128 KiB, no heartbeats (runs are short). */
  die_on_reply(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, opt.user, opt.password), "login");
  amqp_channel_open(c, 1);
  die_on_reply(amqp_get_rpc_reply(c), "channel.open");
  return c;
}

static void close_conn(amqp_connection_state_t c) {
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
}

static void declare_queue(amqp_connection_state_t c) {
  /* durable, not exclusive, not auto-delete: a classic durable queue. */
  amqp_queue_declare(c, 1, amqp_cstring_bytes(opt.queue), 0, 1, 0, 0, amqp_empty_table);
  die_on_reply(amqp_get_rpc_reply(c), "queue.declare");
}

/* ---- start barrier: every connection is set up before the clock starts ---- */
static pthread_barrier_t ready;
static double t_start;

/* ---------------------------------------------------------------- producers */

typedef struct {
  uint64_t count;
  int index;
} producer_arg_t;

static amqp_bytes_t body;

/* Reads one frame (blocking when tv is NULL) and applies a confirm.
 * Returns 1 when a frame was handled, 0 on timeout. */
static int read_confirm(amqp_connection_state_t c, struct timeval* tv, uint64_t* confirmed_upto,
                        uint64_t* nacked) {
  amqp_frame_t f;
  int st = amqp_simple_wait_frame_noblock(c, &f, tv);
  if (st == AMQP_STATUS_TIMEOUT) return 0;
  die_status(st, "wait confirm");
  if (f.frame_type != AMQP_FRAME_METHOD) return 1;
  switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
      amqp_basic_ack_t* a = (amqp_basic_ack_t*)f.payload.method.decoded;
      /* multiple: every tag up to delivery_tag; confirms come in order. */
      if (a->delivery_tag > *confirmed_upto) *confirmed_upto = a->delivery_tag;
      break;
    }
    case AMQP_BASIC_NACK_METHOD: {
      amqp_basic_nack_t* n = (amqp_basic_nack_t*)f.payload.method.decoded;
      *nacked += n->multiple ? n->delivery_tag - *confirmed_upto : 1;
      if (n->delivery_tag > *confirmed_upto) *confirmed_upto = n->delivery_tag;
      break;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      amqp_channel_close_t* m = (amqp_channel_close_t*)f.payload.method.decoded;
      fprintf(stderr, "rabbitmq_load: producer: channel closed %u %.*s\n", m->reply_code,
              (int)m->reply_text.len, (char*)m->reply_text.bytes);
      exit(3);
    }
    case AMQP_CONNECTION_CLOSE_METHOD:
      fprintf(stderr, "rabbitmq_load: producer: connection closed by the broker\n");
      exit(3);
    case AMQP_CONNECTION_BLOCKED_METHOD:
      fprintf(stderr, "rabbitmq_load: producer: connection blocked (resource alarm)\n");
      break;
    default:
      break;
  }
  amqp_maybe_release_buffers(c);
  return 1;
}

static amqp_basic_properties_t persistent_props(void) {
  amqp_basic_properties_t p;
  memset(&p, 0, sizeof p);
  p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  p.delivery_mode = 2; /* persistent */
  return p;
}

static void* producer(void* argp) {
  producer_arg_t* arg = (producer_arg_t*)argp;
  amqp_connection_state_t c = open_conn();
  amqp_confirm_select(c, 1);
  die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
  const amqp_basic_properties_t props = persistent_props();
  const amqp_bytes_t q = amqp_cstring_bytes(opt.queue);
  uint64_t sent = 0, confirmed = 0, nacked = 0; /* tags are 1-based: tag == number sent */
  struct timeval zero = {0, 0};
  pthread_barrier_wait(&ready);
  while (confirmed < arg->count) {
    /* Publish a burst while the window has room... */
    int burst = 0;
    while (sent < arg->count && sent - confirmed < opt.window && burst < 256) {
      die_status(amqp_basic_publish(c, 1, amqp_empty_bytes, q, 0, 0, &props, body), "publish");
      ++sent;
      ++burst;
    }
    /* ...then take every confirm already here; block only when the window is full
     * (or everything is sent). */
    if (sent - confirmed >= opt.window || sent == arg->count) {
      read_confirm(c, NULL, &confirmed, &nacked);
    }
    while (read_confirm(c, &zero, &confirmed, &nacked)) {
    }
  }
  if (nacked) {
    fprintf(stderr, "rabbitmq_load: producer %d: %llu messages nacked by the broker\n", arg->index,
            (unsigned long long)nacked);
    exit(3);
  }
  close_conn(c);
  return NULL;
}

/* ---------------------------------------------------------------- consumers */

static atomic_uint_fast64_t delivered; /* every delivery seen by any consumer */
static atomic_uint_fast64_t acked;
static double t_last_ack;
static pthread_mutex_t last_ack_mu = PTHREAD_MUTEX_INITIALIZER;

static void ack_upto(amqp_connection_state_t c, uint64_t tag, uint64_t n) {
  die_status(amqp_basic_ack(c, 1, tag, 1 /* multiple */), "basic.ack");
  if (atomic_fetch_add(&acked, n) + n >= opt.messages) {
    pthread_mutex_lock(&last_ack_mu);
    double t = now_s();
    if (t > t_last_ack) t_last_ack = t;
    pthread_mutex_unlock(&last_ack_mu);
  }
}

static void* consumer(void* unused) {
  (void)unused;
  amqp_connection_state_t c = open_conn();
  amqp_basic_qos(c, 1, 0, opt.prefetch, 0);
  die_on_reply(amqp_get_rpc_reply(c), "basic.qos");
  amqp_basic_consume(c, 1, amqp_cstring_bytes(opt.queue), amqp_empty_bytes, 0, 0 /* manual ack */, 0,
                     amqp_empty_table);
  die_on_reply(amqp_get_rpc_reply(c), "basic.consume");
  pthread_barrier_wait(&ready);
  uint64_t pending = 0, last_tag = 0;
  struct timeval tv = {0, 5000}; /* short: the last partial ack batch goes out fast */
  while (atomic_load(&acked) < opt.messages) {
    amqp_envelope_t env;
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
      if (pending) { /* idle: ack what we hold so nothing waits on us */
        ack_upto(c, last_tag, pending);
        pending = 0;
      }
      continue;
    }
    die_on_reply(r, "consume");
    last_tag = env.delivery_tag;
    amqp_destroy_envelope(&env);
    ++pending;
    const uint64_t seen = atomic_fetch_add(&delivered, 1) + 1;
    if (pending >= opt.ack_every || seen >= opt.messages) {
      ack_upto(c, last_tag, pending);
      pending = 0;
    }
  }
  close_conn(c);
  return NULL;
}

/* --------------------------------------------------------------- run modes */

static int run_throughput(void) {
  const int n = opt.producers + opt.consumers;
  pthread_t* th = calloc((size_t)n, sizeof *th);
  producer_arg_t* pa = calloc((size_t)opt.producers, sizeof *pa);
  pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
  for (int i = 0; i < opt.consumers; ++i) pthread_create(&th[i], NULL, consumer, NULL);
  const uint64_t per = opt.messages / (uint64_t)opt.producers;
  for (int p = 0; p < opt.producers; ++p) {
    pa[p].index = p;
    pa[p].count = p + 1 == opt.producers ? opt.messages - per * (uint64_t)(opt.producers - 1) : per;
    pthread_create(&th[opt.consumers + p], NULL, producer, &pa[p]);
  }
  pthread_barrier_wait(&ready);
  t_start = now_s();
  double t_published = 0;
  for (int i = n - 1; i >= 0; --i) { /* producers first */
    pthread_join(th[i], NULL);
    if (i == opt.consumers) t_published = now_s();
  }
  if (opt.consumers == 0) t_published = now_s();
  const double end = opt.consumers ? t_last_ack : t_published;
  const double secs = end - t_start;
  printf("{\"broker\":\"rabbitmq\",\"mode\":\"throughput\",\"messages\":%llu,\"size\":%zu,\"producers\":%d,"
         "\"consumers\":%d,\"window\":%llu,\"prefetch\":%u,\"ack_every\":%llu,\"seconds\":%.3f,"
         "\"publish_seconds\":%.3f,\"msgs_per_s\":%.0f}\n",
         (unsigned long long)opt.messages, opt.size, opt.producers, opt.consumers,
         (unsigned long long)opt.window, opt.prefetch, (unsigned long long)opt.ack_every, secs,
         t_published - t_start, (double)opt.messages / secs);
  free(th);
  free(pa);
  return 0;
}

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static int run_latency(void) {
  pthread_t taker;
  if (opt.latency_consumer) {
    pthread_barrier_init(&ready, NULL, 2);
    pthread_create(&taker, NULL, consumer, NULL);
    pthread_barrier_wait(&ready);
  }
  amqp_connection_state_t c = open_conn();
  amqp_confirm_select(c, 1);
  die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
  const amqp_basic_properties_t props = persistent_props();
  const amqp_bytes_t q = amqp_cstring_bytes(opt.queue);
  double* sent_at = calloc(opt.messages + 1, sizeof *sent_at);
  double* lat = calloc(opt.messages, sizeof *lat);
  const double gap = 1.0 / (double)opt.rate;
  uint64_t sent = 0, confirmed = 0, nacked = 0, nlat = 0;
  double next = now_s();
  const double deadline = next + (double)opt.messages / (double)opt.rate + 60.0;
  while (confirmed < opt.messages) {
    double t = now_s();
    if (t > deadline) {
      fprintf(stderr, "rabbitmq_load: latency: %llu of %llu confirmed before the deadline\n",
              (unsigned long long)confirmed, (unsigned long long)opt.messages);
      return 2;
    }
    if (sent < opt.messages && t >= next) {
      die_status(amqp_basic_publish(c, 1, amqp_empty_bytes, q, 0, 0, &props, body), "publish");
      sent_at[++sent] = now_s(); /* delivery tag == sequence number, 1-based */
      next += gap;
      continue;
    }
    /* Wait for a confirm until the next send is due. */
    double wait = sent < opt.messages ? next - now_s() : 0.2;
    if (wait < 0) wait = 0;
    struct timeval tv = {(time_t)wait, (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
    uint64_t before = confirmed;
    if (read_confirm(c, &tv, &confirmed, &nacked) && confirmed > before) {
      const double tc = now_s();
      for (uint64_t tag = before + 1; tag <= confirmed; ++tag) lat[nlat++] = (tc - sent_at[tag]) * 1e6;
    }
  }
  if (nacked) {
    fprintf(stderr, "rabbitmq_load: latency: %llu nacked\n", (unsigned long long)nacked);
    return 3;
  }
  if (opt.latency_consumer) pthread_join(taker, NULL);
  qsort(lat, nlat, sizeof *lat, cmp_double);
#define PCT(p) lat[(size_t)((p) * (double)nlat) < nlat ? (size_t)((p) * (double)nlat) : nlat - 1]
  /* The distribution as quantiles, for the CDF plot (bench/plot_results.py). */
  static const double qs[] = {0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999};
  char cdf[512] = "";
  size_t used = 0;
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; ++i) {
    used += (size_t)snprintf(cdf + used, sizeof cdf - used, "%s[%g,%.1f]", i ? "," : "", qs[i], PCT(qs[i]));
  }
  printf("{\"broker\":\"rabbitmq\",\"mode\":\"latency\",\"messages\":%llu,\"rate\":%llu,\"consumer\":%s,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"cdf_us\":[%s]}\n",
         (unsigned long long)opt.messages, (unsigned long long)opt.rate, opt.latency_consumer ? "true" : "false",
         PCT(0.5), PCT(0.99), PCT(0.999), cdf);
  close_conn(c);
  free(sent_at);
  free(lat);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: rabbitmq_load [--host H] [--port N] [--user U] [--password P] [--queue Q] [--messages N]\n"
          "                     [--size B] [--producers P] [--consumers C] [--window W] [--prefetch N]\n"
          "                     [--ack-every N] [--no-purge] [--latency --rate R [--with-consumer]]\n");
  exit(1);
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (fprintf(stderr, "%s needs a value\n", a), exit(1), ""))
    if (!strcmp(a, "--host")) opt.host = NEXT();
    else if (!strcmp(a, "--port")) opt.port = atoi(NEXT());
    else if (!strcmp(a, "--user")) opt.user = NEXT();
    else if (!strcmp(a, "--password")) opt.password = NEXT();
    else if (!strcmp(a, "--queue")) opt.queue = NEXT();
    else if (!strcmp(a, "--messages")) opt.messages = strtoull(NEXT(), NULL, 10);
    else if (!strcmp(a, "--size")) opt.size = strtoull(NEXT(), NULL, 10);
    else if (!strcmp(a, "--producers")) opt.producers = atoi(NEXT());
    else if (!strcmp(a, "--consumers")) opt.consumers = atoi(NEXT());
    else if (!strcmp(a, "--window")) opt.window = strtoull(NEXT(), NULL, 10);
    else if (!strcmp(a, "--prefetch")) opt.prefetch = (uint16_t)atoi(NEXT());
    else if (!strcmp(a, "--ack-every")) opt.ack_every = strtoull(NEXT(), NULL, 10);
    else if (!strcmp(a, "--no-purge")) opt.purge = 0;
    else if (!strcmp(a, "--latency")) opt.latency = 1;
    else if (!strcmp(a, "--with-consumer")) opt.latency_consumer = 1;
    else if (!strcmp(a, "--rate")) opt.rate = strtoull(NEXT(), NULL, 10);
    else usage();
  }
  if (opt.messages == 0 || opt.producers < 1 || opt.consumers < 0 || opt.window == 0 || opt.rate == 0 ||
      opt.prefetch == 0 || opt.ack_every == 0) {
    usage();
  }
  /* Acks every N must fit in the prefetch window, or consumers would stall. */
  if (opt.ack_every > opt.prefetch) opt.ack_every = opt.prefetch;

  char* b = malloc(opt.size ? opt.size : 1);
  memset(b, 'x', opt.size);
  body.bytes = b;
  body.len = opt.size;

  amqp_connection_state_t admin = open_conn();
  declare_queue(admin);
  if (opt.purge) {
    amqp_queue_purge(admin, 1, amqp_cstring_bytes(opt.queue));
    die_on_reply(amqp_get_rpc_reply(admin), "queue.purge");
  }
  close_conn(admin);

  const int rc = opt.latency ? run_latency() : run_throughput();
  free(b);
  return rc;
}
