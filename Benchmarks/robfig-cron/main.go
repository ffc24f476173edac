// The peer for SchedulerBenchmarks: the same next-fire computations with robfig/cron v3, built by
// scripts/bench.sh against Debian's golang-github-robfig-cron-dev (GOPATH mode, no network).
// Prints one line per case: "<expression>|<zone>|<ns per Next>".
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/robfig/cron"
)

func main() {
	const iterations = 200_000
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, zone := range []string{"UTC", "Europe/Berlin"} {
		for _, expr := range []string{"0 2 * * *", "*/15 * * * *", "0 0 29 2 *", "0 9-17 * * MON-FRI"} {
			schedule, err := cron.ParseStandard("CRON_TZ=" + zone + " " + expr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			best := time.Duration(1 << 62)
			for round := 0; round < 3; round++ {
				t := start
				began := time.Now()
				for i := 0; i < iterations; i++ {
					// Restart every 16 steps, as the Swift benchmark does: 29 February must not reach
					// 2100, which has none.
					if i%16 == 0 {
						t = start
					}
					t = schedule.Next(t)
				}
				if elapsed := time.Since(began); elapsed < best {
					best = elapsed
				}
			}
			fmt.Printf("%s|%s|%.1f\n", expr, zone, float64(best.Nanoseconds())/iterations)
		}
	}
}
