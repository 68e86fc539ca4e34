package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus collectors served on /metrics. Each Receiver
// has its own registry, so tests and several receivers never collide.
type Metrics struct {
	registry   *prometheus.Registry
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

func newMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robaws_edge_deliveries_total",
			Help: "Webhook deliveries by endpoint and status (duplicate included).",
		}, []string{"endpoint", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "robaws_edge_processing_seconds",
			Help:    "Time from receipt to the durable commit of a delivery.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
	}
	m.registry.MustRegister(m.deliveries, m.latency)
	return m
}

func (m *Metrics) delivery(endpoint, status string, took time.Duration) {
	m.deliveries.WithLabelValues(endpoint, status).Inc()
	if status != "rejected" {
		m.latency.WithLabelValues(endpoint).Observe(took.Seconds())
	}
}
