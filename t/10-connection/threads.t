# ithreads: a thread cloned after the module was loaded must not touch the
# parent's runtime (it would take the parent's replies). It gets a clear
# error; the parent keeps working.
use strict;
use warnings;
use Config;

BEGIN {
    unless ( $Config{useithreads} ) {
        print "1..0 # SKIP this perl has no ithreads\n";
        exit 0;
    }
}
use threads;
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop  = IO::Async::Loop->new;
my $redis = Future::IO::Redis->new( %{ FIORTest::server('plain') } );
$redis->connect->get;
my $key = FIORTest::unique_key('threads');
is( $redis->set( $key, 'parent' )->get, 'OK', 'parent set a value before the clone' );

my $pending = $redis->command( 'BLPOP', "$key:none", '0.3' );
my $outcome = threads->create(
    sub {
        my $got = eval { $redis->ping->get; 'no error' };
        return defined $got ? $got : "$@";
    }
)->join;
like( $outcome, qr/ithread/, 'the cloned thread gets a clear error' );
is( $pending->get,          undef, 'a command pending across the clone completes in the parent' );
is( $redis->get($key)->get, 'parent', 'parent keeps working' );
$redis->del($key)->get;
$redis->disconnect;
done_testing;
