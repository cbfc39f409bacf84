package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted, by
// nearest rank; 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// median returns the median of values (the lower one of an even count).
func median[T cmp.Ordered](values []T) T {
	s := slices.Clone(values)
	slices.Sort(s)
	if len(s) == 0 {
		var zero T
		return zero
	}
	return s[(len(s)-1)/2]
}

// ms formats d in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage returns the 1, 5 and 15 minute load averages, as the kernel
// reports them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuUse is the CPU time a phase used: this process's, and the whole
// machine's (other processes, PostgreSQL included, are the difference).
type cpuUse struct {
	wall, cpu, machine time.Duration
}

// measureCPU returns a function that reports the wall and CPU time since
// the call.
func measureCPU() func() cpuUse {
	start, startCPU, startMachine := time.Now(), cpuTime(), machineBusy()
	return func() cpuUse {
		return cpuUse{wall: time.Since(start), cpu: cpuTime() - startCPU, machine: machineBusy() - startMachine}
	}
}

// String reads "12.3 s CPU over 6.4 s (96% of 2 cores; whole machine 99%)".
func (u cpuUse) String() string {
	cores := float64(runtime.NumCPU())
	share := func(d time.Duration) float64 {
		if u.wall <= 0 {
			return 0
		}
		return 100 * d.Seconds() / (u.wall.Seconds() * cores)
	}
	return fmt.Sprintf("%.1f s CPU over %.1f s (%.0f%% of %.0f cores; whole machine busy %.0f%%)",
		u.cpu.Seconds(), u.wall.Seconds(), share(u.cpu), cores, share(u.machine))
}

// clockTick is the kernel's USER_HZ, the unit of /proc/stat (100 on Linux).
const clockTick = 10 * time.Millisecond

// machineBusy returns the CPU time all processes have used since boot
// (every state of /proc/stat's cpu line but idle, iowait and steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	var busy int64
	for i, f := range fields[1:] {
		if i == 3 || i == 4 || i >= 7 { // idle, iowait, steal; guest time is counted in user
			continue
		}
		v, _ := strconv.ParseInt(f, 10, 64)
		busy += v
	}
	return time.Duration(busy) * clockTick
}

// startProfile starts a CPU profile into path, when set, and returns the
// function that stops it.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return nil
	}, nil
}
