# The shared object exports only the boot symbol: thousands of Rust symbols
# could otherwise clash with another Rust-based XS module in the same perl.
use Test2::V0;

skip_all 'the version script is used on Linux only' unless $^O eq 'linux';
my ($so) = glob 'blib/arch/auto/Future/IO/Redis/Redis.so';
skip_all 'build first (make)' unless $so;
my @symbols = map { (split)[-1] } grep { / [TDBR] / } `nm -D --defined-only $so`;
is( \@symbols, ['boot_Future__IO__Redis'], 'only boot_Future__IO__Redis is exported' );
done_testing;
