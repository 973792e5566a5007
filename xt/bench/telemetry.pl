#!/usr/bin/env perl
# What observability costs: the same GETs on a client without telemetry,
# with a tracer, a meter, both, and a debug logger (each a no-op object,
# so only this module's own work is measured), in one run.
#
#   perl -Mblib xt/bench/telemetry.pl [port]     (from the top directory)
use strict;
use warnings;

use Time::HiRes qw(time);
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTelemetry;

my $port  = shift // $ENV{FIOR_DEMO_PORT} // 6379;
my $loop  = IO::Async::Loop->new;
my @cases = (
    [ 'no telemetry' => () ],
    [ 'tracer'       => ( otel_tracer => FIORTelemetry::NoopTracer->new ) ],
    [ 'meter'        => ( otel_meter  => FIORTelemetry::NoopMeter->new ) ],
    [
        'tracer and meter' => (
            otel_tracer => FIORTelemetry::NoopTracer->new,
            otel_meter  => FIORTelemetry::NoopMeter->new
        )
    ],
    [ 'debug => sub {}' => ( debug => sub { } ) ],
);
printf "%-18s %16s %20s\n", 'ops/s', 'sequential GET', '1000 concurrent GETs';

for my $case (@cases) {
    my ( $name, @options ) = @$case;
    my $redis = Future::IO::Redis->new( host => '127.0.0.1', port => $port, @options );
    $redis->set( 'fior:bench:telemetry', 'x' )->get;
    my $start = time;
    $redis->get('fior:bench:telemetry')->get for 1 .. 5000;
    my $sequential = 5000 / ( time - $start );
    $start = time;
    Future->needs_all( map { $redis->get('fior:bench:telemetry') } 1 .. 1000 )->get for 1 .. 20;
    my $concurrent = 20_000 / ( time - $start );
    printf "%-18s %16.0f %20.0f\n", $name, $sequential, $concurrent;
    $redis->disconnect;
}
