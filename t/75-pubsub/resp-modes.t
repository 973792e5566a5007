# What a subscribed client can do besides reading messages. Under RESP2
# every other command fails at once with Future::IO::Redis::Error::Protocol
# (the message says pubsub): a plain command, a pipeline's execute, multi
# and watch_multi; nothing of them reaches the server, the subscription
# keeps delivering, more names can still be subscribed, and after the last
# unsubscribe the same client runs commands again. Under RESP3 the same
# client runs commands while subscribed (values correct, also pipelines and
# transactions, also PUBLISH to its own channel) and still gets every
# message, in publish order, interleaved with its replies.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

alarm 120;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('modes');

my $pub = Future::IO::Redis->new(%$srv);
$pub->connect->get;

# Checks that $f fails at once with a pubsub Protocol error.
sub refused_ok {
    my ( $f, $name ) = @_;
    ok( $f->is_ready, "$name: settled at once (no round trip)" );
    my $err = FIORTest::failure_of($f);
    isa_ok( $err, ['Future::IO::Redis::Error::Protocol'], "$name: Error::Protocol" );
    like( ref $err ? $err->message : "$err", qr/pubsub/i, "$name: the message says pubsub" );
}

subtest 'RESP2: other commands fail while subscribed' => sub {
    my $redis = Future::IO::Redis->new( %$srv, protocol => 2 );
    my $k     = "$base:r2:key";
    my $ch    = "$base:r2:chan";
    $redis->set( $k, 'before' )->get;

    my $sub = $redis->subscribe($ch)->get;
    is( $redis->is_pubsub, 1, 'subscribed' );

    refused_ok( $redis->get($k),                'get' );
    refused_ok( $redis->set( $k, 'during' ),    'set' );
    refused_ok( $redis->command( 'ECHO', 'x' ), 'command ECHO' );
    refused_ok( $redis->ping,                   'ping' );
    my $p = $redis->pipeline;
    $p->set( $k, 'piped' )->get($k);
    refused_ok( $p->execute,                                              'a pipeline execute' );
    refused_ok( $redis->multi( async sub { $_[0]->set( $k, 'multi' ) } ), 'multi' );
    refused_ok( $redis->watch_multi( [$k], async sub { $_[0]->set( $k, 'watch_multi' ) } ),
        'watch_multi' );
    is( $pub->get($k)->get, 'before', 'none of them reached the server' );

    # The subscription goes on meanwhile.
    $pub->publish( $ch, "m$_" )->get for 1 .. 3;
    is( FIORTest::next_tuple($sub), [ 'message', $ch, undef, "m$_" ], "message $_ still comes" )
        for 1 .. 3;

    # Subscribing more is not "another command".
    $redis->psubscribe("$ch:p*")->get;
    is( $sub->patterns, ["$ch:p*"], 'psubscribe while subscribed works' );
    $pub->publish( "$ch:p1", 'pm' )->get;
    is( FIORTest::next_tuple($sub), [ 'pmessage', "$ch:p1", "$ch:p*", 'pm' ], 'and delivers' );

    # One name gone is not enough.
    $sub->unsubscribe->get;
    is( $redis->is_pubsub, 1, 'a pattern left: still pubsub' );
    refused_ok( $redis->get($k), 'get with a pattern left' );

    $sub->punsubscribe->get;
    is( $redis->is_pubsub,    0,        'all gone: not pubsub' );
    is( $redis->get($k)->get, 'before', 'get works again' );
    $p = $redis->pipeline;
    $p->set( $k, 'piped' )->get($k);
    is( $p->execute->get, [ 'OK', 'piped' ], 'a pipeline works again' );
    is(
        $redis->multi( async sub { $_[0]->set( $k, 'multi' )->get($k) } )->get,
        [ 'OK', 'multi' ],
        'multi works again'
    );
    $redis->del($k)->get;
    $redis->disconnect;
};

subtest 'RESP3: commands and messages on the same client' => sub {
    my $redis = Future::IO::Redis->new( %$srv, protocol => 3 );
    my $k     = "$base:r3:key";
    my $ch    = "$base:r3:chan";
    my $sub   = $redis->subscribe($ch)->get;
    $sub->psubscribe("$ch:p*")->get;
    is( $redis->is_pubsub, 1, 'subscribed' );

    is( $redis->set( $k, 'v1' )->get,                'OK',               'set while subscribed' );
    is( $redis->get($k)->get,                        'v1',               'get while subscribed' );
    is( $redis->command( 'ECHO', "a\0b" )->get,      "a\0b",             'command ECHO' );
    is( $redis->ping->get,                           'PONG',             'ping' );
    is( $redis->hset( "$k:h", f => 1, g => 2 )->get, 2,                  'hset' );
    is( $redis->hgetall("$k:h")->get,                { f => 1, g => 2 }, 'hgetall (a RESP3 map)' );
    my $p = $redis->pipeline;
    $p->incr("$k:n")->incr("$k:n")->get("$k:n");
    is( $p->execute->get, [ 1, 2, '2' ], 'a pipeline' );
    is( $redis->multi( async sub { $_[0]->incr("$k:n")->get("$k:n") } )->get, [ 3, '3' ], 'multi' );

    # Publish from elsewhere and run commands, interleaved: every message
    # in order, every reply right.
    my @replies;
    for my $i ( 1 .. 100 ) {
        $pub->publish( $i % 3 ? $ch : "$ch:p$i", "x$i" )->get;
        push @replies, $redis->command( 'ECHO', "r$i" );
    }
    ok( FIORTest::ready_within( Future->wait_all(@replies) ), 'the 100 commands settled' );
    is(
        [ map { $_->is_done ? $_->get : 'failed' } @replies ],
        [ map { "r$_" } 1 .. 100 ],
        'each got its own reply'
    );
    my @got = map { FIORTest::next_tuple($sub) } 1 .. 100;
    is(
        \@got,
        [
            map {
                $_ % 3
                    ? [ 'message', $ch, undef, "x$_" ]
                    : [ 'pmessage', "$ch:p$_", "$ch:p*", "x$_" ]
            } 1 .. 100
        ],
        'and the 100 messages came, in order'
    );

    # PUBLISH from the subscribed client itself: its reply and its own
    # message, both.
    my @counts = map { $redis->publish( $ch, "self$_" ) } 1 .. 20;
    ok( FIORTest::ready_within( Future->wait_all(@counts) ), 'own PUBLISHes settled' );
    is(
        [ map { $_->is_done ? $_->get : 'failed' } @counts ],
        [ (1) x 20 ],
        'each PUBLISH: one receiver (itself)'
    );
    is(
        [ map { FIORTest::next_tuple($sub) } 1 .. 20 ],
        [ map { [ 'message', $ch, undef, "self$_" ] } 1 .. 20 ],
        'its own messages, in order'
    );

    # Messages waiting in the buffer while a pipeline that publishes runs.
    $p = $redis->pipeline;
    $p->publish( $ch, 'pp1' )->get($k)->publish( "$ch:p7", 'pp2' );
    is( $p->execute->get,           [ 1, 'v1', 1 ], 'a pipeline with PUBLISHes' );
    is( FIORTest::next_tuple($sub), [ 'message',  $ch, undef, 'pp1' ], 'its first message' );
    is( FIORTest::next_tuple($sub), [ 'pmessage', "$ch:p7", "$ch:p*", 'pp2' ], 'its second' );

    $sub->unsubscribe->get;
    $sub->punsubscribe->get;
    is( $redis->is_pubsub,    0,    'unsubscribed' );
    is( $redis->get($k)->get, 'v1', 'still works' );
    $redis->del( $k, "$k:h", "$k:n" )->get;
    $redis->disconnect;
};

$pub->disconnect;
done_testing;
