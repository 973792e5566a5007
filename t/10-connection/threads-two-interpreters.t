# Two ithreads that each load the module share one process, and so one
# core completion queue: while one uses it, the other gets a clear error,
# never the first one's replies; once the first has ended, another may
# take over. (Regression: replies crossed between the interpreters.)
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
use threads::shared;
use Test2::V0;
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');
ok( !$INC{'Future/IO/Redis.pm'}, 'the main interpreter has not loaded the client' );

my $arrived : shared  = 0;
my $finished : shared = 0;

sub wait_for {
    my ( $counter, $n ) = @_;
    lock($$counter);
    $$counter++;
    cond_broadcast($$counter);
    cond_wait($$counter) until $$counter >= $n;
}

# Uses a client; both threads are alive while either does.
sub worker {
    my ( $me, $together ) = @_;
    require Future::IO::Redis;
    wait_for( \$arrived, 2 ) if $together;
    my ( $ok, $wrong ) = ( 0, 0 );
    my $result = eval {
        my $r = Future::IO::Redis->new( %$srv, request_timeout => 5 );
        for my $i ( 1 .. 50 ) {
            $r->command( 'ECHO', "$me-$i" )->get eq "$me-$i" ? $ok++ : $wrong++;
        }
        "ok=$ok wrong=$wrong";
    } // "error: $@";
    wait_for( \$finished, 2 ) if $together;
    return $result;
}

my @threads = map      { threads->create( \&worker, $_, 1 ) } qw(A B);
my @results = sort map { $_->join } @threads;
is( $results[1], 'ok=50 wrong=0', 'one interpreter got every reply, each its own' );
like( $results[0], qr/^error: .*another Perl interpreter/, 'the other got a clear error' );

my $later = threads->create( \&worker, 'C', 0 )->join;
is( $later, 'ok=50 wrong=0', 'once they have ended, a new interpreter may use it' );
done_testing;
