# A connection given back to the pool while subscribed, with the client's
# real pub/sub (the dirty.t cases use stand-ins): under RESP2 and RESP3,
# on_dirty => 'destroy' closes it and the next user gets a new connection
# that runs commands; on_dirty => 'cleanup' unsubscribes it and hands the
# same connection (same CLIENT ID) back, out of pubsub mode, with no
# subscription left on the server.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $srv     = FIORTest::server('plain');
my $channel = FIORTest::unique_key('poolsub');
my $mon     = Future::IO::Redis->new(%$srv);
my $names   = 0;

sub subscribers_of {
    my ($name) = @_;
    my $counts = $mon->pubsub_numsub($name)->get;
    return ref $counts eq 'HASH' ? $counts->{$name} : {@$counts}->{$name};
}

for my $protocol ( 2, 3 ) {
    for my $on_dirty (qw(destroy cleanup)) {
        subtest "RESP$protocol, on_dirty => $on_dirty" => sub {
            my $pool = Future::IO::Redis::Pool->new(
                %$srv,
                protocol        => $protocol,
                client_name     => "fior-pool-sub-$$-" . ++$names,
                min             => 1,
                max             => 1,
                acquire_timeout => 10,
                on_dirty        => $on_dirty,
            );
            my $conn = $pool->acquire->get;
            my $id   = $conn->client_id->get;
            my $sub  = $conn->subscribe("$channel:$protocol")->get;
            $sub->psubscribe("$channel:p*")->get;
            ok( $conn->is_pubsub, 'subscribed' );
            is( subscribers_of("$channel:$protocol"), 1, 'the server sees the subscriber' );
            $pool->release($conn);

            my $next = $pool->acquire->get;
            ok( !$next->is_pubsub, 'the next user gets a connection out of pubsub mode' );
            is( $next->set( "$channel:k", 'v' )->get, 'OK', '... that runs commands' );
            my $next_id = $next->client_id->get;
            if ( $on_dirty eq 'destroy' ) {
                isnt( $next_id, $id, 'a new connection' );
                is( $pool->stats->{destroyed}, 1, 'the subscribed one was destroyed' );
            }
            else {
                is( $next_id, $id, 'the same connection, cleaned' );
                ok( $sub->is_closed, 'its subscription is over' );
            }

            # (A destroyed connection's close reaches the server a moment later.)
            my $deadline = time + 10;
            Future::IO->sleep(0.02)->get
                while subscribers_of("$channel:$protocol") && time < $deadline;
            is( subscribers_of("$channel:$protocol"), 0, 'no subscriber left on the server' );
            is( $sub->patterns, [], 'no pattern left' ) if $on_dirty eq 'cleanup';
            $next->del("$channel:k")->get;
            $pool->release($next);
            $pool->shutdown;
        };
    }
}

$mon->disconnect;
done_testing;
