# Blocking commands get the client deadline of their own timeout plus
# blocking_timeout_buffer, never request_timeout: with timeout 0 (BLPOP,
# BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, XREAD and
# XREADGROUP BLOCK 0) they wait past a request_timeout of 0.3 s until
# another client pushes data a second later, and give that data (under
# RESP2 and RESP3); with a timeout of one second they end with undef after
# about a second, not with a Timeout; BLMPOP and BZMPOP take the timeout
# from their FIRST argument (so a numkeys of 2 or a trailing COUNT is not
# mistaken for it), shown both by a server-side timeout and by the
# Error::Timeout of a stalled private server, whose ->timeout is that first
# argument plus the buffer; lower-case names (blpop, command('blpop'),
# command('xread', 'block', ...)) get the same deadlines; WAIT (in ms) waits
# past request_timeout too; a BLPOP 0 on client A does not delay client B
# (100 commands) and the event loop keeps running meanwhile.
# (t/10-connection/blocking-deadline.t covers the plain BLPOP/XREAD timeouts
# and BLPOP's buffer; this file covers the rest.)
use Test2::V0;
use IO::Async::Loop;
use IO::Async::Timer::Periodic;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Time::HiRes qw(time);
use lib 't/lib';
use FIORTest;
use FIORServer;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('blocking');

# The value of a finished future, or a string saying how it failed (so a
# failure shows up in the comparison instead of dying).
sub outcome {
    my ($f) = @_;
    $loop->await($f);
    return $f->get unless $f->is_failed;
    my $e = $f->failure;
    return 'FAILED: ' . ( ref $e || 'plain' ) . ": $e";
}

sub client {
    my $r = Future::IO::Redis->new( %$srv, request_timeout => 0.3, @_ );
    $r->connect->get;
    return $r;
}

# Runs $code (giving a future) after $secs seconds.
sub later {
    my ( $secs, $code ) = @_;
    return $loop->delay_future( after => $secs )->then($code);
}

my $pusher = Future::IO::Redis->new(%$srv);
$pusher->connect->get;

subtest 'BLPOP key 0 waits past request_timeout' => sub {
    my $c    = client();
    my $k    = "$base:blpop0";
    my $t0   = time;
    my $f    = $c->blpop( $k, 0 );
    my $push = later( 1, sub { $pusher->rpush( $k, 'late' ) } );
    is( outcome($f), [ $k, 'late' ], 'BLPOP gives [key, value] of the late push' );
    my $dt = time - $t0;
    ok( $dt >= 0.8, "it waited for the push (${dt}s, request_timeout 0.3)" );
    is( outcome($push),      1,      'the push found one waiter' );
    is( $c->ping->get,       'PONG', 'the client answers afterwards' );
    is( $c->exists($k)->get, 0,      'the value was taken' );
    $c->disconnect;
};

subtest 'BLPOP key 1: undef after about a second, loop keeps running' => sub {
    my $c     = client();
    my $ticks = 0;
    my $timer = IO::Async::Timer::Periodic->new( interval => 0.1, on_tick => sub { $ticks++ } );
    $loop->add($timer);
    $timer->start;

    for my $how (
        [ 'blpop method',     sub { $c->blpop( "$base:empty", 1 ) } ],
        [ "command('blpop')", sub { $c->command( 'blpop', "$base:empty", 1 ) } ],
        [ "command('BLPOP')", sub { $c->command( 'BLPOP', "$base:empty", 1 ) } ],
        [ "command('bRpOp')", sub { $c->command( 'bRpOp', "$base:empty", 1 ) } ],
    ) {
        my ( $name, $run ) = @$how;
        my $t0 = time;
        is( outcome( $run->() ), undef, "$name: undef, no client timeout" );
        my $dt = time - $t0;
        ok( $dt > 0.8 && $dt < 10, "$name: after about a second (${dt}s)" );
    }
    $timer->stop;
    $loop->remove($timer);
    ok( $ticks >= 15, "a 0.1 s timer kept ticking meanwhile ($ticks ticks in ~4 s)" );
    $c->disconnect;
};

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol: blocking commands with timeout 0 get pushed data" => sub {
        my $pb = "$base:push$protocol";
        my %c  = map { $_ => client( protocol => $protocol ) }
            qw(brpop blmove brpoplpush bzpopmin bzpopmax blmpop bzmpop xread xreadgroup);
        $pusher->xgroup_create( "$pb:xg", 'grp', '$', 'MKSTREAM' )->get;

        my $t0 = time;
        my %f  = (
            brpop      => $c{brpop}->brpop( "$pb:none", "$pb:brpop", 0 ),
            blmove     => $c{blmove}->blmove( "$pb:blmove", "$pb:blmove:dst", 'RIGHT', 'LEFT', 0 ),
            brpoplpush => $c{brpoplpush}->brpoplpush( "$pb:brpoplpush", "$pb:brpoplpush:dst", 0 ),
            bzpopmin   => $c{bzpopmin}->bzpopmin( "$pb:bzpopmin", 0 ),
            bzpopmax   => $c{bzpopmax}->bzpopmax( "$pb:bzpopmax", 0 ),
            blmpop     => $c{blmpop}->blmpop( 0, 2, "$pb:none", "$pb:blmpop", 'LEFT', 'COUNT', 2 ),
            bzmpop     => $c{bzmpop}->bzmpop( 0, 2, "$pb:none", "$pb:bzmpop", 'MAX', 'COUNT', 2 ),
            xread      => $c{xread}->xread( 'BLOCK', 0, 'STREAMS', "$pb:xread", '$' ),
            xreadgroup => $c{xreadgroup}
                ->xreadgroup( 'GROUP', 'grp', 'cons', 'BLOCK', 0, 'STREAMS', "$pb:xg", '>' ),
        );
        my $pushes = later(
            1,
            sub {
                Future->needs_all(
                    $pusher->rpush( "$pb:brpop",      qw(a b) ),
                    $pusher->rpush( "$pb:blmove",     qw(m1 m2) ),
                    $pusher->rpush( "$pb:brpoplpush", 'n' ),
                    $pusher->zadd( "$pb:bzpopmin", 5, 'five', 7, 'seven' ),
                    $pusher->zadd( "$pb:bzpopmax", 5, 'five', 7, 'seven' ),
                    $pusher->rpush( "$pb:blmpop", qw(x y z) ),
                    $pusher->zadd( "$pb:bzmpop", 1, 'one', 2, 'two', 3, 'three' ),
                    $pusher->xadd( "$pb:xread", '1-1', f => 'v' ),
                    $pusher->xadd( "$pb:xg",    '2-1', g => 'w' ),
                );
            }
        );
        ok( !$f{$_}->is_ready, "$_ is waiting" ) for sort keys %f;

        my $entries = sub {
            my ( $key, @entries ) = @_;
            return $protocol == 3 ? { $key => \@entries } : [ [ $key, \@entries ] ];
        };
        is( outcome( $f{brpop} ),      [ "$pb:brpop", 'b' ], 'BRPOP: [key, value]' );
        is( outcome( $f{blmove} ),     'm2',                 'BLMOVE: the element' );
        is( outcome( $f{brpoplpush} ), 'n',                  'BRPOPLPUSH: the element' );
        is(
            outcome( $f{bzpopmin} ),
            [ "$pb:bzpopmin", 'five', number(5) ],
            'BZPOPMIN: [key, member, score]'
        );
        is(
            outcome( $f{bzpopmax} ),
            [ "$pb:bzpopmax", 'seven', number(7) ],
            'BZPOPMAX: [key, member, score]'
        );
        is( outcome( $f{blmpop} ), [ "$pb:blmpop", [qw(x y)] ], 'BLMPOP: [key, [elements]]' );
        is(
            outcome( $f{bzmpop} ),
            [ "$pb:bzmpop", [ [ 'three', number(3) ], [ 'two', number(2) ] ] ],
            'BZMPOP: [key, [[member, score]...]]'
        );
        is(
            outcome( $f{xread} ),
            $entries->( "$pb:xread", [ '1-1', [ f => 'v' ] ] ),
            'XREAD BLOCK 0: the new entry'
        );
        is(
            outcome( $f{xreadgroup} ),
            $entries->( "$pb:xg", [ '2-1', [ g => 'w' ] ] ),
            'XREADGROUP BLOCK 0: the new entry'
        );
        my $dt = time - $t0;
        ok( $dt >= 0.8,          "all waited for the pushes (${dt}s, request_timeout 0.3)" );
        ok( !$pushes->is_failed, 'the pushes went through' );
        $loop->await($pushes);

        is( $pusher->lrange( "$pb:blmove:dst",     0, -1 )->get, ['m2'], 'BLMOVE moved it' );
        is( $pusher->lrange( "$pb:brpoplpush:dst", 0, -1 )->get, ['n'],  'BRPOPLPUSH moved it' );
        is( $pusher->lrange( "$pb:brpop", 0, -1 )->get, ['a'], 'BRPOP took the tail only' );
        is( $pusher->zrange( "$pb:bzmpop", 0, -1 )->get, ['one'], 'BZMPOP took two' );
        is( $c{$_}->ping->get, 'PONG', "the $_ client answers" ) for sort keys %c;
        $_->disconnect for values %c;
        $pusher->del( map { "$pb:$_" }
                qw(brpop blmove blmove:dst brpoplpush:dst bzpopmin bzpopmax blmpop bzmpop xread xg)
        )->get;
    };
}

subtest 'BLMPOP / BZMPOP: the deadline comes from the FIRST argument' => sub {

    # numkeys 2 and a trailing COUNT 3 are there to be mistaken for the
    # timeout; with request_timeout 0.3 any such mistake is a Timeout.
    my @run = (
        [
            'blmpop method',
            sub { $_[0]->blmpop( 1, 2, "$base:e1", "$base:e2", 'LEFT', 'COUNT', 3 ) }
        ],
        [
            'bzmpop method',
            sub { $_[0]->bzmpop( 1, 2, "$base:e1", "$base:e2", 'MIN', 'COUNT', 3 ) }
        ],
        [
            "command('blmpop')",
            sub { $_[0]->command( 'blmpop', 1, 2, "$base:e1", "$base:e2", 'RIGHT' ) }
        ],
        [
            "command('BzMpOp')",
            sub { $_[0]->command( 'BzMpOp', 1, 2, "$base:e1", "$base:e2", 'MAX' ) }
        ],
        [ 'blmpop, one key', sub { $_[0]->blmpop( 1, 1, "$base:e1", 'LEFT' ) } ],
    );
    my @c  = map { client( blocking_timeout_buffer => 2 ) } @run;
    my $t0 = time;
    my @f  = map { $run[$_][1]->( $c[$_] ) } 0 .. $#run;
    for my $i ( 0 .. $#run ) {
        is( outcome( $f[$i] ), undef, "$run[$i][0]: undef (server-side timeout), no Timeout" );
        my $dt = time - $t0;
        ok( $dt > 0.8 && $dt < 10, "$run[$i][0]: after about a second (${dt}s)" );
    }
    $_->disconnect for @c;

    subtest 'timeout 0 as the first argument waits past request_timeout' => sub {
        my $c    = client();
        my $t0   = time;
        my $f    = $c->command( 'blmpop', 0, 1, "$base:mp0", 'LEFT' );
        my $push = later( 1, sub { $pusher->rpush( "$base:mp0", 'v' ) } );
        is( outcome($f), [ "$base:mp0", ['v'] ], 'BLMPOP 0 gets the late push' );
        ok( time - $t0 >= 0.8, '... after it came' );
        $loop->await($push);
        $c->disconnect;
    };
};

subtest 'XREAD / WAIT: milliseconds, lower-case words' => sub {
    my $c  = client();
    my $t0 = time;
    is( outcome( $c->command( 'xread', 'block', 1000, 'streams', "$base:nostream", '$' ) ),
        undef, "command('xread', 'block', 1000, ...): undef, no Timeout" );
    my $dt = time - $t0;
    ok( $dt > 0.8 && $dt < 10, "... after about a second (${dt}s)" );

    my $k = "$base:xread0";
    $t0 = time;
    my $f    = $c->xread( 'COUNT', 10, 'BLOCK', 0, 'STREAMS', $k, '$' );
    my $push = later( 1, sub { $pusher->xadd( $k, '5-5', a => 'b' ) } );
    my $got  = outcome($f);
    ok( time - $t0 >= 0.8, 'XREAD COUNT 10 BLOCK 0 waited past request_timeout' );
    is(
        ref $got eq 'HASH' ? $got->{$k} : ref $got eq 'ARRAY' ? $got->[0][1] : $got,
        [ [ '5-5', [ a => 'b' ] ] ],
        '... and got the new entry'
    );
    $loop->await($push);
    $pusher->del($k)->get;
    $c->disconnect;
};

subtest 'a BLPOP 0 on client A does not delay client B' => sub {
    my $ca = client();
    my $cb = client();
    my $k  = "$base:ab";
    my $n  = "$base:ab:counter";

    my $t0  = time;
    my $pop = $ca->blpop( $k, 0 );
    is( $cb->incr($n)->get, $_, "B: INCR $_" ) for 1 .. 50;
    my @f = map { $cb->incr($n) } 51 .. 100;
    is( [ map { $_->get } @f ], [ 51 .. 100 ], 'B: 50 more INCRs in flight at once' );
    is( $cb->get($n)->get,      100,           'B: all 100 done' );
    my $dt = time - $t0;
    ok( $dt < 5,         "B was not held up (${dt}s)" );
    ok( !$pop->is_ready, 'A is still waiting' );

    $loop->await( $loop->delay_future( after => 0.5 ) );
    ok( !$pop->is_ready, 'A still waiting after request_timeout has passed' );
    is( $cb->rpush( $k, 'for-a' )->get, 1,               'B pushes' );
    is( outcome($pop),                  [ $k, 'for-a' ], 'A gets it' );
    $cb->del( $k, $n )->get;
    $_->disconnect for $ca, $cb;
};

# A private server: it is stalled (DEBUG SLEEP), and WAIT wants a server that
# surely has no replicas.
subtest 'private server' => sub {
    my $server = FIORServer->new;
    my $psrv   = { host => '127.0.0.1', port => $server->port };

    subtest 'WAIT waits its own timeout (ms), not request_timeout' => sub {
        my $c = Future::IO::Redis->new( %$psrv, request_timeout => 0.3 );
        $c->connect->get;
        $c->set( 'w', 1 )->get;
        is( outcome( $c->wait( 0, 1000 ) ), 0, 'WAIT 0 1000: 0 (no replica needed)' );
        for my $how (
            [ 'wait method',     sub { $c->wait( 1, 1000 ) } ],
            [ "command('WAIT')", sub { $c->command( 'WAIT', 1, 1000 ) } ],
            [ "command('wait')", sub { $c->command( 'wait', 1, 1000 ) } ],
        ) {
            my ( $name, $run ) = @$how;
            my $t0 = time;
            is( outcome( $run->() ), 0, "$name 1 1000 with no replicas: 0, no Timeout" );
            my $dt = time - $t0;
            ok( $dt > 0.8 && $dt < 10, "$name: after about a second (${dt}s)" );
        }
        $c->disconnect;
    };

    subtest 'stalled server: Timeout after the command timeout + buffer' => sub {
        my $staller = Future::IO::Redis->new( %$psrv, request_timeout => 0 );
        $staller->connect->get;

        # Each times out client-side at 0.5 + 0.2 s; the server sleeps 2 s.
        my @run = (
            [ 'BLMPOP',   sub { $_[0]->blmpop( '0.5', 2, 'k1', 'k2', 'LEFT', 'COUNT', 5 ) } ],
            [ 'BZMPOP',   sub { $_[0]->bzmpop( '0.5', 2, 'z1', 'z2', 'MAX', 'COUNT', 5 ) } ],
            [ 'BLMPOP',   sub { $_[0]->command( 'blmpop', '0.5', 2, 'k1', 'k2',  'RIGHT' ) } ],
            [ 'BZMPOP',   sub { $_[0]->command( 'bzmpop', '0.5', 1, 'z1', 'MIN', 'COUNT', 9 ) } ],
            [ 'BLPOP',    sub { $_[0]->blpop( 'k1', 'k2', '0.5' ) } ],
            [ 'BLPOP',    sub { $_[0]->command( 'blpop',    'k1',    '0.5' ) } ],
            [ 'BZPOPMIN', sub { $_[0]->command( 'bzpopmin', 'z1',    '0.5' ) } ],
            [ 'XREAD',    sub { $_[0]->command( 'xread',    'block', 500, 'streams', 's', '$' ) } ],
            [ 'WAIT',     sub { $_[0]->wait( 1, 500 ) } ],
        );
        my @c = map {
            my $r = Future::IO::Redis->new( %$psrv, blocking_timeout_buffer => 0.2 );
            $r->connect->get;
            $r
        } @run;

        my $stall = $staller->debug( 'SLEEP', 2 );
        $loop->await( $loop->delay_future( after => 0.1 ) );    # the sleep has begun
        my $t0 = time;
        my @f  = map { $run[$_][1]->( $c[$_] ) } 0 .. $#run;
        $loop->await( Future->wait_all(@f) );
        my $dt = time - $t0;

        for my $i ( 0 .. $#run ) {
            my ( $name, $f ) = ( $run[$i][0], $f[$i] );
            my $e = $f->is_failed ? $f->failure : undef;
            isa_ok( $e, ['Future::IO::Redis::Error::Timeout'], "$name #$i: a Timeout" )
                or diag( 'got: ' . ( $f->is_failed ? "$e" : 'a reply' ) );
            next unless ref $e && $e->isa('Future::IO::Redis::Error::Timeout');
            is( $e->timeout, float( 0.7, tolerance => 0.001 ),
                "$name #$i: ->timeout is 0.5 + 0.2" );
            is( uc( $e->command // '' ), $name, "$name #$i: ->command" );
            ok( $e->maybe_executed, "$name #$i: maybe_executed" );
        }
        ok( $dt < 1.8, "all timed out before the server woke (${dt}s)" );
        is( outcome($stall), 'OK', 'the stall is over' );
        $_->disconnect for $staller, @c;
    };
};

is( $pusher->keys("$base:*")->get, [], 'no key of this file left behind' );
$pusher->disconnect;
done_testing;
