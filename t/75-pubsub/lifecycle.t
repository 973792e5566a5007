# A subscription's life beyond unsubscribe, under RESP2 and RESP3.
# Dropping the client while subscribed neither hangs nor warns: the client
# is freed, a waiting next gives undef, the subscription is closed and
# refuses to subscribe, and the server drops the subscriber. Dropping the
# subscription object changes nothing: the client keeps it (is_pubsub,
# messages kept in order), and subscribing again yields the same one.
# disconnect ends a subscription too, even with reconnect on. After fork, a
# child using a client inherited from a subscribed parent gets a fresh
# client: its own commands work on a connection of its own, it is not
# subscribed, it can subscribe for itself (also as its first use of the
# client: an open subscription to its own channel only); the parent keeps its
# subscription (the server still has it) and keeps receiving every message
# in order, while the child runs and after it ended (POSIX::_exit).
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use POSIX        qw(_exit);
use Scalar::Util qw(refaddr weaken);
use lib 't/lib';
use FIORTest;

alarm 120;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

my $pub = Future::IO::Redis->new(%$srv);
$pub->connect->get;

sub until_true {
    my ($cond) = @_;
    for ( 1 .. 200 ) {
        return 1 if $cond->();
        $loop->delay_future( after => 0.05 )->get;
    }
    return 0;
}

for my $protocol ( 2, 3 ) {
    my %opt  = ( %$srv, protocol => $protocol );
    my $base = FIORTest::unique_key("lifecycle$protocol");

    subtest "dropping the client while subscribed, RESP$protocol" => sub {
        my $ch = "$base:drop";
        my ( $sub, $waiting, $weak );
        my $w = warnings {
            my $redis = Future::IO::Redis->new( %opt, reconnect => 1 );
            $sub = $redis->subscribe($ch)->get;
            $sub->psubscribe("$ch:p*")->get;
            $pub->publish( $ch, 'one' )->get;
            is(
                FIORTest::next_tuple($sub),
                [ 'message', $ch, undef, 'one' ],
                'subscribed and receiving'
            );
            $waiting = $sub->next;
            weaken( $weak = $redis );
            undef $redis;
            ok( !defined $weak,                   'the client was freed' );
            ok( FIORTest::ready_within($waiting), 'a waiting next settled (no hang)' );
            is( [ $waiting->is_done ? $waiting->get : 'failed: ' . $waiting->failure ],
                [undef], '... with undef' );
            is( $sub->is_closed,            1,     'the subscription is closed' );
            is( FIORTest::next_tuple($sub), undef, 'next: undef' );
            my $err = FIORTest::failure_of( $sub->subscribe("$ch:more") );
            isa_ok( $err, ['Future::IO::Redis::Error'], 'subscribe on it fails' );
            ok( until_true( sub { FIORTest::numsub( $pub, $ch )->[0] == 0 } ),
                'the server dropped the subscriber' );
            is( $pub->publish( "$ch:p1", 'x' )->get, 0, '... pattern too' );
        };
        is( $w, [], 'no warning' );
    };

    subtest "dropping the subscription object, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my $ch    = "$base:dropsub";
        my $sub   = $redis->subscribe($ch)->get;
        my $addr  = refaddr($sub);
        my $weak  = $sub;
        weaken($weak);
        undef $sub;
        ok( defined $weak, 'the client keeps the subscription' );
        is( $redis->is_pubsub,             1,   'is_pubsub' );
        is( FIORTest::numsub( $pub, $ch ), [1], 'the server still has the channel' );
        $pub->publish( $ch, "kept$_" )->get for 1 .. 3;

        my $again = $redis->subscribe("$ch:2")->get;
        is( refaddr($again),  $addr,            'subscribing again yields the same subscription' );
        is( $again->channels, [ $ch, "$ch:2" ], 'with the first channel too' );
        is(
            [ map { FIORTest::next_tuple($again) } 1 .. 3 ],
            [ map { [ 'message', $ch, undef, "kept$_" ] } 1 .. 3 ],
            'the messages published meanwhile were kept, in order'
        );
        $redis->unsubscribe_all->get;
        $redis->disconnect;
    };

    subtest "disconnect ends the subscription, RESP$protocol" => sub {
        my $w = warnings {
            my $redis   = Future::IO::Redis->new( %opt, reconnect => 1 );
            my $ch      = "$base:disc";
            my $sub     = $redis->subscribe($ch)->get;
            my $waiting = $sub->next;
            $redis->disconnect;
            ok( FIORTest::ready_within($waiting), 'a waiting next settled' );
            is( [ $waiting->is_done ? $waiting->get : 'failed' ], [undef], '... with undef' );
            is( $sub->is_closed,                                  1,       'closed' );
            is( $redis->is_pubsub,                                0,       'is_pubsub false' );
            ok( until_true( sub { FIORTest::numsub( $pub, $ch )->[0] == 0 } ),
                'the server has no subscriber' );
            $loop->delay_future( after => 0.3 )->get;
            is( FIORTest::numsub( $pub, $ch ), [0], 'and reconnect did not bring it back' );
        };
        is( $w, [], 'no warning' );
    };

    subtest "fork: the child gets a fresh client, the parent keeps receiving, RESP$protocol" =>
        sub {
        my $redis = Future::IO::Redis->new(%opt);
        my $ch    = "$base:fork";
        my $key   = "$base:fork:key";
        $redis->connect->get;
        my $parent_id = $redis->command( 'CLIENT', 'ID' )->get;
        my $sub       = $redis->subscribe($ch)->get;
        $pub->publish( $ch, 'p0' )->get;
        is(
            FIORTest::next_tuple($sub),
            [ 'message', $ch, undef, 'p0' ],
            'the parent is subscribed'
        );

        pipe( my $from_child, my $to_parent ) or die "pipe: $!";
        pipe( my $go_read,    my $go_write )  or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ( !$pid ) {
            close $from_child;
            close $go_write;
            my $out = eval {
                my $loop = IO::Async::Loop->new;
                my @r;
                my $try = sub {
                    my ($f) = @_;
                    $loop->await($f);
                    return $f->is_done ? $f->get // 'undef' : 'FAILED ' . ref( $f->failure );
                };
                push @r, $try->( $redis->set( $key, "child$$" ) );
                push @r, $try->( $redis->get($key) );
                push @r, $try->( $redis->command( 'CLIENT', 'ID' ) );
                push @r, $redis->is_pubsub;

                # The child can subscribe for itself.
                my $own = $loop->await( $redis->subscribe("$ch:child") );
                if ( $own->is_done ) {
                    my $s     = $own->get;
                    my $other = Future::IO::Redis->new(%$srv);
                    push @r, $try->( $other->publish( "$ch:child", 'hi child' ) );
                    my $m = $loop->await( $s->next );
                    push @r, $m->is_done && $m->get ? $m->get->{data} : 'no message';
                    $loop->await( $s->unsubscribe );
                    $other->disconnect;
                }
                else {
                    push @r, 'subscribe FAILED ' . ref( $own->failure ), '-';
                }
                <$go_read>;    # hold on until the parent has read its messages
                join "\t", @r;
            } // "ERROR: $@";
            print {$to_parent} $out;
            close $to_parent;
            _exit(0);
        }
        close $to_parent;
        close $go_read;

        # The parent reads messages while the child runs.
        my $p = $pub->pipeline;
        $p->publish( $ch, "during$_" ) for 1 .. 20;
        is( $p->execute->get, [ (1) x 20 ], 'publishing while the child runs: one receiver each' );
        is(
            [ map { FIORTest::next_tuple($sub) } 1 .. 20 ],
            [ map { [ 'message', $ch, undef, "during$_" ] } 1 .. 20 ],
            'the parent got them all, in order'
        );
        print {$go_write} "go\n";
        close $go_write;

        my $out = do { local $/; <$from_child> }
            // '';
        waitpid( $pid, 0 );
        is( $? >> 8, 0, 'the child exited' );
        my @r = split /\t/, $out, -1;
        is( scalar @r, 6,              'the child reported' ) or diag("child: $out");
        is( $r[0],     'OK',           "the child's SET worked" );
        is( $r[1],     'child' . $pid, "the child's GET worked" );
        like( $r[2] // '', qr/\A\d+\z/, "the child's CLIENT ID worked" );
        isnt( $r[2], $parent_id, '... on a connection of its own' );
        is( $r[3], 0,          'in the child the client is not subscribed' );
        is( $r[4], 1,          'the child subscribed for itself' );
        is( $r[5], 'hi child', '... and got its message' );

        is( FIORTest::numsub( $pub, $ch ), [1], 'the parent is still subscribed on the server' );
        is( $sub->is_closed,               0,   "the parent's subscription is open" );
        is( $redis->is_pubsub,             1,   'is_pubsub in the parent' );
        $p = $pub->pipeline;
        $p->publish( $ch, "after$_" ) for 1 .. 20;
        is( $p->execute->get, [ (1) x 20 ], 'publishing after the child ended' );
        is(
            [ map { FIORTest::next_tuple($sub) } 1 .. 20 ],
            [ map { [ 'message', $ch, undef, "after$_" ] } 1 .. 20 ],
            'the parent still gets every message, in order'
        );
        is( $pub->get($key)->get, "child$pid", "the child's SET reached the server" );
        $sub->unsubscribe->get;
        is( $redis->ping->get, 'PONG', 'the parent works after unsubscribing' );
        $redis->del($key)->get;
        $redis->disconnect;
        };

    subtest "fork: the child's first use is subscribe, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my $ch    = "$base:fork2";
        my $sub   = $redis->subscribe($ch)->get;

        my ( $pid, $from_child ) = FIORTest::in_child(
            sub {
                my $loop = IO::Async::Loop->new;
                my $f    = $loop->await( $redis->subscribe("$ch:child") );
                die 'subscribe failed: ' . $f->failure . "\n" unless $f->is_done;
                my $s     = $f->get;
                my @r     = ( $s->is_closed, $redis->is_pubsub, join ',', @{ $s->channels } );
                my $other = Future::IO::Redis->new(%$srv);
                push @r, $loop->await( $other->publish( "$ch:child", 'hi' ) )->get;
                my $m = $loop->await(
                    Future->wait_any(
                        $s->next, $loop->delay_future( after => 5 )->then_done('TIMEOUT')
                    )
                );
                my $got = $m->is_done ? $m->get : 'FAILED';
                push @r, ref $got ? $got->{data} : $got // 'undef';
                $loop->await( $s->unsubscribe );
                push @r, $loop->await( $redis->ping )->get;
                $other->disconnect;
                join "\t", @r;
            }
        );
        my $out = FIORTest::child_output( $pid, $from_child ) // '';
        is(
            [ split /\t/, $out, -1 ],
            [ 0, 1, "$ch:child", 1, 'hi', 'PONG' ],
            'in the child: an open subscription on its own channel only, its message, then commands'
        ) or diag("child: $out");

        $pub->publish( $ch, 'parent' )->get;
        is(
            FIORTest::next_tuple($sub),
            [ 'message', $ch, undef, 'parent' ],
            'the parent still receives'
        );
        is(
            FIORTest::numsub( $pub, $ch, "$ch:child" ),
            [ 1, 0 ],
            'the server: the parent subscribed, the child gone'
        );
        $sub->unsubscribe->get;
        $redis->disconnect;
    };
}

$pub->disconnect;
done_testing;
