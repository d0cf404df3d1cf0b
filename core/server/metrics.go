package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/retool-rl/retool/core/execution"
)

// metrics are what /metrics exports. Pool state is read from the
// runtimes when scraped, not kept here.
type metrics struct {
	reg        *prometheus.Registry
	executions *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	rejected   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		reg: reg,
		executions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retool_executions_total", Help: "Executions by runtime and status.",
		}, []string{"runtime", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "retool_execution_seconds", Help: "Execution latency seen by the server, queueing included.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30},
		}, []string{"runtime"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retool_rejected_total", Help: "Requests refused by admission control.",
		}, []string{"runtime", "reason"}),
	}
	reg.MustRegister(m.executions, m.latency, m.rejected, &stateCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observe(runtime string, res execution.Result, err error, d time.Duration) {
	status := res.Status.String()
	switch {
	case errors.Is(err, context.Canceled):
		status = "cancelled" // the client went away
	case err != nil:
		status = "error"
	}
	m.executions.WithLabelValues(runtime, status).Inc()
	m.latency.WithLabelValues(runtime).Observe(d.Seconds())
}

var (
	queueDesc    = prometheus.NewDesc("retool_queue_depth", "Requests in a runtime, running and waiting.", []string{"runtime"}, nil)
	workersDesc  = prometheus.NewDesc("retool_pool_workers", "Warm workers of a runtime.", []string{"runtime", "state"}, nil)
	restartsDesc = prometheus.NewDesc("retool_worker_restarts_total", "Workers restarted by a runtime (a plugin restarted after a crash counts all its workers).", []string{"runtime"}, nil)
	sessionsDesc = prometheus.NewDesc("retool_sessions_open", "Open sessions.", nil, nil)
)

// stateCollector reads queue depth, pools and sessions at scrape time.
type stateCollector struct{ s *Server }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- workersDesc
	ch <- restartsDesc
	ch <- sessionsDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for rt, n := range c.s.gates.depth() {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for rt, h := range c.s.exec.Health(ctx) {
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(h.WorkersReady), rt, "idle")
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(h.WorkersTotal), rt, "total")
		ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(h.Restarts), rt)
	}
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(c.s.sessions.count()))
}
