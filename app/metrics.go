package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robaws-edge/robaws-edge/store"
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

// localGatherer is what /metrics serves: the receiver's collectors plus
// gauges read at scrape time from the store, the tunnel and the receiver.
// They live in a registry of the local app's own, so building several local
// apps over one receiver never registers a collector twice.
func localGatherer(db *store.DB, r *Receiver, tunnel func() TunnelStatus) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "robaws_edge_customers",
			Help: "Customers in the cache.",
		}, func() float64 { return float64(db.CustomerCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "robaws_edge_tunnel_up",
			Help: "1 when the tunnel is online, else 0 (also when no tunnel is configured).",
		}, func() float64 {
			if tunnel().Status == TunnelOnline {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "robaws_edge_rejected_dropped_total",
			Help: "Rejected deliveries not logged because of receiver.rejected_per_minute, since start.",
		}, func() float64 { return float64(r.RejectedDropped()) }),
	)
	return prometheus.Gatherers{r.metrics.registry, reg}
}
