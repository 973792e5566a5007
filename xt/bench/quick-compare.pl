# Quick comparison with Redis::Fast on one server (a later issue adds the
# full benchmark command). Usage: perl -Mblib xt/bench/quick-compare.pl [port]
use strict;
use warnings;
use Time::HiRes qw(time);
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Redis::Fast;
my $port = shift // 6379;
my $N    = 20000;
my $loop = IO::Async::Loop->new;
my $f    = Future::IO::Redis->new( host => '127.0.0.1', port => $port );
$f->connect->get;
my $rf = Redis::Fast->new( server => "127.0.0.1:$port" );
$rf->set( 'bench:k', 'x' x 100 );

sub rate {
    my ( $name, $n, $code ) = @_;
    my $t = time;
    $code->();
    my $dt = time - $t;
    printf "%-40s %9.0f ops/s\n", $name, $n / $dt;
    return $n / $dt;
}
my $a = rate( 'FIR sequential awaited GET', $N, sub { $f->get('bench:k')->get for 1 .. $N } );
my $b = rate( 'Redis::Fast sequential GET', $N, sub { $rf->get('bench:k')     for 1 .. $N } );
my $c = rate(
    'FIR 1000-concurrent GET x20',
    $N,
    sub {
        for ( 1 .. 20 ) {
            Future->needs_all( map { $f->get('bench:k') } 1 .. 1000 )->get;
        }
    }
);
my $d = rate(
    'Redis::Fast pipelined GET (cb) x20',
    $N,
    sub {
        for ( 1 .. 20 ) {
            $rf->get( 'bench:k', sub { } ) for 1 .. 1000;
            $rf->wait_all_responses;
        }
    }
);
printf "ratio sequential FIR/RF = %.2f, concurrent FIR/RF = %.2f\n", $a / $b, $c / $d;
