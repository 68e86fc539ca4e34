package store

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDiskSync measures what a durable commit costs on the disk under
// the test's temp directory, the way bbolt commits (page writes, then
// fdatasync): 32 pages of 4 KiB written at scattered offsets of a 64 MiB
// file or side by side, then one fdatasync. It reports 4 KiB pages made
// durable per second. A bbolt commit rewrites every changed B+tree leaf at
// a page taken from its freelist, so the leaves of random keys (customer
// ids, event ids) land at scattered offsets.
func BenchmarkDiskSync(b *testing.B) {
	const pageSize, pagesPerSync, fileSize = 4096, 32, 64 << 20
	for _, mode := range []string{"scattered", "contiguous"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "disk"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			// Written, not sparse: like a bbolt file's reused pages.
			if _, err := f.Write(make([]byte, fileSize)); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			page := make([]byte, pageSize)
			rng := rand.New(rand.NewPCG(1, 2))
			start, syncs := time.Now(), 0
			for ; b.Loop(); syncs++ {
				for j := range pagesPerSync {
					off := int64(syncs*pagesPerSync+j) % (fileSize / pageSize)
					if mode == "scattered" {
						off = rng.Int64N(fileSize / pageSize)
					}
					if _, err := f.WriteAt(page, off*pageSize); err != nil {
						b.Fatal(err)
					}
				}
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(syncs*pagesPerSync) / time.Since(start).Seconds()
			b.ReportMetric(rate, "pages/s")
		})
	}
}
