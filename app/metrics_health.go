package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

var (
	problemDesc = prometheus.NewDesc("robaws_edge_health_problems",
		"How many SPEC §4.1 health problems of each code are present now (see /api/health for their messages).", []string{"code"}, nil)
	budgetDesc = prometheus.NewDesc("robaws_edge_robaws_daily_remaining",
		"Requests left today in Robaws' daily budget, as Robaws last announced it, by mode (live, replica).", []string{"mode"}, nil)
)

// healthCollector reports the health problems and the Robaws budget at
// scrape time, from the same function as /api/health.
type healthCollector struct {
	db   *store.DB
	recv *intake.Receiver
	cfg  LocalConfig
}

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- problemDesc
	ch <- budgetDesc
}

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	h := health(context.Background(), c.db, c.recv, c.cfg, c.cfg.Now())
	// A code can stand for several problems (two endpoints, two
	// destinations): one sample per code, counting them.
	counts := map[string]int{}
	var codes []string
	for _, p := range h.Problems {
		if counts[p.Code] == 0 {
			codes = append(codes, p.Code)
		}
		counts[p.Code]++
	}
	for _, code := range codes {
		ch <- prometheus.MustNewConstMetric(problemDesc, prometheus.GaugeValue, float64(counts[code]), code)
	}
	if c.cfg.Robaws == nil {
		return
	}
	for _, mode := range []string{robaws.ModeLive, robaws.ModeReplica} {
		if b, ok := c.cfg.Robaws.Budget(mode); ok {
			ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, float64(b.DailyRemaining), mode)
		}
	}
}

// healthGatherer serves healthCollector from a registry of its own.
func healthGatherer(db *store.DB, r *intake.Receiver, cfg LocalConfig) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(healthCollector{db: db, recv: r, cfg: cfg})
	return reg
}
