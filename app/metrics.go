package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// Metrics holds the delivery collectors served on /metrics. Each Metrics
// has its own registry, so tests and several daemons in one process never
// collide. Wire one into both ends: intake.Config.OnDelivery =
// m.Delivery and LocalConfig.Metrics = m.
type Metrics struct {
	registry   *prometheus.Registry
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	forwarded  *prometheus.CounterVec
	attempts   *prometheus.HistogramVec
}

// NewMetrics returns collectors with no deliveries counted.
func NewMetrics() *Metrics {
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
	m.forwarded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "robaws_edge_forward_items_total",
		Help: "Forwarding attempts by destination and result (delivered, failed, dead, test).",
	}, []string{"destination", "result"})
	m.attempts = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "robaws_edge_forward_attempt_seconds",
		Help:    "How long one forwarding attempt took, by destination.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"destination"})
	m.registry.MustRegister(m.deliveries, m.latency, m.forwarded, m.attempts)
	return m
}

// ForwardAttempt counts one forwarding attempt (forward.Config.OnAttempt).
func (m *Metrics) ForwardAttempt(destination, result string, took time.Duration) {
	m.forwarded.WithLabelValues(destination, result).Inc()
	m.attempts.WithLabelValues(destination).Observe(took.Seconds())
}

// Delivery counts one delivery by endpoint and status and, unless it was
// rejected, observes took, the time from receipt to commit. It has the
// shape of intake.Config.OnDelivery and is safe for concurrent use.
func (m *Metrics) Delivery(endpoint, status string, took time.Duration) {
	m.deliveries.WithLabelValues(endpoint, status).Inc()
	if status != store.StatusRejected {
		m.latency.WithLabelValues(endpoint).Observe(took.Seconds())
	}
}

// localGatherer is what /metrics serves: m's delivery collectors plus
// gauges read at scrape time from the store, the tunnel and the receiver.
// They live in a registry of the local app's own, so building several local
// apps over one receiver never registers a collector twice.
func localGatherer(db *store.DB, r *intake.Receiver, m *Metrics, tunnel func() TunnelStatus, fwd *forward.Forwarder) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	for _, name := range fwd.Names() {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "robaws_edge_forward_pending",
			Help:        "Items a forwarding destination has not delivered yet.",
			ConstLabels: prometheus.Labels{"destination": name},
		}, func() float64 {
			st, _ := fwd.Status(name) // a name of fwd.Names(): never unknown
			return float64(st.Pending)
		}))
	}
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
	return prometheus.Gatherers{m.registry, reg}
}
