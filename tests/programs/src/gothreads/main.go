// A static multi-threaded Go program (GOOS=linux GOARCH=riscv64 CGO_ENABLED=0):
// the runtime's own threads (sysmon, GC workers, Ps spinning and parking on
// futexes), goroutines on a WaitGroup, buffered and unbuffered channels, a
// mutex-guarded map, a forced GC, a timer, a temp file written and read back
// through openat/read/write/fstat/unlinkat, and signals: one caught through
// os/signal, a nil dereference recovered as a panic (SIGSEGV), and a goroutine
// spinning with no calls that only async preemption (SIGURG with a signal
// frame) can stop for a GC. The output is deterministic.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	fmt.Println("hello from go", runtime.GOARCH)

	// Workers feed a buffered channel; a closer waits on the WaitGroup.
	ch := make(chan int, 4)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := 0
			for i := 0; i < 20000; i++ {
				s += (i * w) % 7
			}
			ch <- s
		}(w)
	}
	go func() { wg.Wait(); close(ch) }()
	total := 0
	for v := range ch {
		total += v
	}
	fmt.Println("total", total)

	// Ping-pong on unbuffered channels.
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v * 2
		}
		close(pong)
	}()
	acc := 0
	for i := 1; i <= 100; i++ {
		ping <- i
		acc += <-pong
	}
	close(ping)
	fmt.Println("ping-pong", acc)

	// A map shared by goroutines under a mutex, with garbage to collect.
	m := map[string]int{}
	var mu sync.Mutex
	var wg2 sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg2.Add(1)
		go func(g int) {
			defer wg2.Done()
			for i := 0; i < 500; i++ {
				k := fmt.Sprintf("k%d", (i*g)%37)
				_ = strings.Repeat(k, 10)
				mu.Lock()
				m[k] += i
				mu.Unlock()
			}
		}(g)
	}
	wg2.Wait()
	runtime.GC()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println("keys", len(keys))
	for _, k := range keys[:5] {
		fmt.Println(k, m[k])
	}

	// A timer (the runtime sleeps on a futex with a timeout, or in epoll_pwait).
	select {
	case <-time.After(3 * time.Millisecond):
		fmt.Println("timer fired")
	}

	// File I/O on the host's /tmp.
	f, err := os.CreateTemp("", "actorvm-go-*")
	if err != nil {
		fmt.Println("createtemp:", err)
		os.Exit(1)
	}
	name := f.Name()
	f.WriteString("written and read back\n")
	f.Close()
	b, err := os.ReadFile(name)
	os.Remove(name)
	_, gone := os.Stat(name)
	fmt.Printf("file: %q %v, removed: %v\n", b, err, os.IsNotExist(gone))

	// Signals.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	syscall.Kill(syscall.Getpid(), syscall.SIGUSR1)
	fmt.Println("signal:", <-sigs)
	func() {
		defer func() { fmt.Println("recovered:", recover()) }()
		var p *int
		fmt.Println(*p)
	}()
	var stop int32
	var spins int64
	go func() {
		for atomic.LoadInt32(&stop) == 0 {
			spins++
		}
	}()
	time.Sleep(time.Millisecond)
	runtime.GC() // stops the world: the spinner must be preempted asynchronously
	atomic.StoreInt32(&stop, 1)
	fmt.Println("spinner preempted for a GC")
}
