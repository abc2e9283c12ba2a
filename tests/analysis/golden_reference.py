#!/usr/bin/env python3
"""Independent re-implementation of fwbench's bootstrap draws, used to produce the golden
intervals in stats_test.cpp (Determinism.GoldenIntervals).

It shares no code with src/analysis/bootstrap.cpp: mt19937_64 is written from the C++
standard's definition, indices use Lemire's multiply-and-reject draw into the sorted sample, each
resample is materialised and sorted, percentiles are type 7. If the C++ and this script agree,
a seed gives the same interval on any platform. Run: python3 this_file
"""
import math

MASK = 2**64 - 1


class Mt19937_64:
    def __init__(self, seed):
        self.mt = [seed & MASK]
        for i in range(1, 312):
            prev = self.mt[-1]
            self.mt.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK)
        self.i = 312

    def __call__(self):
        if self.i >= 312:
            for k in range(312):
                y = (self.mt[k] & 0xFFFFFFFF80000000) | (self.mt[(k + 1) % 312] & 0x7FFFFFFF)
                v = self.mt[(k + 156) % 312] ^ (y >> 1)
                self.mt[k] = v ^ 0xB5026F5AA96619E9 if y & 1 else v
            self.i = 0
        x = self.mt[self.i]
        self.i += 1
        x ^= (x >> 29) & 0x5555555555555555
        x ^= (x << 17) & 0x71D67FFFEDA60000
        x ^= (x << 37) & 0xFFF7EEE000000000
        x ^= x >> 43
        return x & MASK


def draw(rng, n):
    threshold = (2**64 - n) % n
    while True:
        product = rng() * n
        if product & MASK >= threshold:
            return product >> 64


def percentile(values, p):
    v = sorted(values)
    h = (len(v) - 1.0) * p / 100.0
    lo = math.floor(h)
    frac = h - lo
    if frac == 0.0 or lo + 1 >= len(v) or v[lo] == v[lo + 1]:
        return v[lo]
    return v[lo] + frac * (v[lo + 1] - v[lo])


def resample(x, rng):
    # BootstrapMedian and BootstrapRatioOfMedians draw positions in the sorted sample.
    s = sorted(x)
    return [s[draw(rng, len(s))] for _ in s]


def interval(replicates, level):
    tail = 100.0 * (1.0 - level) / 2.0
    return percentile(replicates, tail), percentile(replicates, 100.0 - tail)


def main():
    engine = Mt19937_64(5489)  # the standard's default seed and check value
    for _ in range(9999):
        engine()
    assert engine() == 9981545732273789042

    x = list(range(1, 12))
    rng = Mt19937_64(7)
    reps = [percentile(resample(x, rng), 50) for _ in range(500)]
    print("BootstrapMedian(1..11, 0.9, 500, 7):", percentile(x, 50), *map(repr, interval(reps, 0.9)))

    a = [1.13, 0.97, 1.42, 1.05, 1.21, 0.88, 1.30]
    b = [2.04, 2.31, 1.87, 2.12, 2.56, 1.99]
    rng = Mt19937_64(11)
    reps = []
    for _ in range(500):
        ra = resample(a, rng)  # a before b, as in the C++
        rb = resample(b, rng)
        reps.append(percentile(ra, 50) / percentile(rb, 50))
    value = percentile(a, 50) / percentile(b, 50)
    print("BootstrapRatioOfMedians(a, b, 0.95, 500, 11):", repr(value),
          *map(repr, interval(reps, 0.95)))


if __name__ == "__main__":
    main()
