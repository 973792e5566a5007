# Buffering and callbacks, under RESP2 and RESP3. on_message gets every
# message in publish order, those buffered before it was set first, and
# receives the subscription too; next is refused in that mode. A callback
# returning a future that is not ready holds back the next message: the
# messages are delivered one at a time, each strictly after the previous
# callback's future resolved, none lost, also while all of them were
# published at once (with async sub callbacks too). A callback that dies is
# reported with a warning and the next messages still come. With
# max_buffered_messages => N, up to N unread messages wait quietly; one
# more makes the subscription fail loudly - one warning mentioning the
# overflow, next fails with a Future::IO::Redis::Error that mentions it
# (after what was buffered, in order: nothing silently skipped), the
# subscription is closed, the client unsubscribes and works again - also
# when the messages wait behind an on_message callback's future.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Scalar::Util qw(refaddr);
use lib 't/lib';
use FIORTest;

alarm 120;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

my $pub = Future::IO::Redis->new(%$srv);
$pub->connect->get;

# Runs the loop until $cond holds (true) or 10 s passed (false).
sub until_true {
    my ($cond) = @_;
    for ( 1 .. 500 ) {
        return 1 if $cond->();
        $loop->delay_future( after => 0.02 )->get;
    }
    return 0;
}

# Publishes "$prefix$_" for each of @n to $ch in one pipeline; the counts.
sub publish_all {
    my ( $ch, $prefix, @n ) = @_;
    my $p = $pub->pipeline;
    $p->publish( $ch, "$prefix$_" ) for @n;
    return $p->execute->get;
}

for my $protocol ( 2, 3 ) {
    my %opt  = ( %$srv, protocol => $protocol );
    my $base = FIORTest::unique_key("buffering$protocol");

    subtest "on_message: every message, in order, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my $ch    = "$base:cb";
        my $sub   = $redis->subscribe($ch)->get;
        $sub->psubscribe("$ch:p*")->get;

        # Three wait in the buffer before the callback is set.
        publish_all( $ch, 'early', 1 .. 3 );
        $loop->delay_future( after => 0.1 )->get;

        my ( @got, @subs );
        is(
            refaddr(
                $sub->on_message(
                    sub {
                        my ( $m, $s ) = @_;
                        push @got,  [ @{$m}{qw(type channel pattern data)} ];
                        push @subs, refaddr($s);
                        return;
                    }
                )
            ),
            refaddr($sub),
            'on_message returns the subscription'
        );
        is(
            [ map { $_->[3] } @got ],
            [qw(early1 early2 early3)],
            'the buffered ones at once, in order'
        );

        my $p = $pub->pipeline;
        $p->publish( $_ % 4 ? $ch : "$ch:p$_", "m$_" ) for 1 .. 500;
        is( $p->execute->get, [ (1) x 500 ], 'published 500' );
        ok( until_true( sub { @got >= 503 } ), 'all came' );
        is(
            \@got,
            [
                ( map { [ 'message', $ch, undef, "early$_" ] } 1 .. 3 ),
                map {
                    $_ % 4
                        ? [ 'message', $ch, undef, "m$_" ]
                        : [ 'pmessage', "$ch:p$_", "$ch:p*", "m$_" ]
                } 1 .. 500
            ],
            'exactly these, in order'
        );
        is( [ grep { $_ != refaddr($sub) } @subs ], [], 'the callback got the subscription' );

        like( dies { $sub->next }, qr/on_message/, 'next in callback mode: refused' );

        $sub->unsubscribe->get;
        $sub->punsubscribe->get;
        $redis->disconnect;
    };

    subtest "on_message back-pressure, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my $ch    = "$base:bp";
        my $sub   = $redis->subscribe($ch)->get;

        my ( @got, @held, @overlap );
        $sub->on_message(
            sub {
                my ($m) = @_;
                push @overlap, $m->{data} if grep { !$_->is_ready } @held;
                push @got,     $m->{data};
                push @held,    my $f = $loop->new_future;
                return $f;
            }
        );

        is( publish_all( $ch, 'm', 1 .. 50 ), [ (1) x 50 ], 'published 50 at once' );
        ok( until_true( sub { @got >= 1 } ), 'the first came' );
        $loop->delay_future( after => 0.3 )->get;
        is( \@got, ['m1'], 'while its future is pending, no second message' );

        $held[0]->done;
        ok( until_true( sub { @got >= 2 } ), 'resolving it: the next one comes' );
        $loop->delay_future( after => 0.1 )->get;
        is( \@got, [qw(m1 m2)], '... and only that' );

        # Resolve each one a little later, from a timer.
        my $releaser = (
            async sub {
                while ( @got < 50 ) {
                    await $loop->delay_future( after => 0.002 );
                    $_->done for grep { !$_->is_ready } @held;
                }
            }
        )->();
        ok( FIORTest::ready_within( $releaser, 20 ), 'all 50 delivered one at a time' );
        is( \@got,     [ map { "m$_" } 1 .. 50 ], 'in order, none lost' );
        is( \@overlap, [],                        'none while the previous future was pending' );

        # Callbacks that are async subs.
        my @async_got;
        my $busy = 0;
        my @overlap2;
        $sub->on_message(
            async sub {
                my ($m) = @_;
                push @overlap2, $m->{data} if $busy;
                $busy = 1;
                await $loop->delay_future( after => 0.001 );
                push @async_got, $m->{data};
                $busy = 0;
            }
        );
        $held[-1]->done unless $held[-1]->is_ready;
        publish_all( $ch, 'a', 1 .. 100 );
        ok( until_true( sub { @async_got >= 100 } ), 'async callbacks: all 100' );
        is( \@async_got, [ map { "a$_" } 1 .. 100 ], 'in order' );
        is( \@overlap2,  [],                         'one at a time' );

        $sub->unsubscribe->get;
        $redis->disconnect;
    };

    subtest "a callback that dies: a warning, and the next messages, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my $ch    = "$base:dies";
        my $sub   = $redis->subscribe($ch)->get;
        my @got;
        $sub->on_message(
            sub {
                push @got, $_[0]{data};
                die "boom at $_[0]{data}\n" if $_[0]{data} eq 'd2';
                return;
            }
        );
        my $w = warnings {
            publish_all( $ch, 'd', 1 .. 4 );
            until_true( sub { @got >= 4 } );
        };
        is( \@got,      [qw(d1 d2 d3 d4)], 'every message reached the callback' );
        is( scalar @$w, 1,                 'one warning' );
        like( $w->[0] // '', qr/boom at d2/, '... with the error' );
        $sub->unsubscribe->get;
        $redis->disconnect;
    };

    subtest "max_buffered_messages: below the bound, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %opt, max_buffered_messages => 10 );
        my $ch    = "$base:below";
        my $sub   = $redis->subscribe($ch)->get;
        my $w     = warnings {
            is( publish_all( $ch, 'b', 1 .. 10 ), [ (1) x 10 ], 'published 10, unread' );
            $loop->delay_future( after => 0.3 )->get;
        };
        is( $w,              [], 'no warning' );
        is( $sub->is_closed, 0,  'still open' );
        my @got = map { $sub->next->get->{data} } 1 .. 10;
        is( \@got, [ map { "b$_" } 1 .. 10 ], 'all 10, in order' );

        # Read as they come: any number passes.
        $w = warnings {
            my @more;
            my $reader = (
                async sub {
                    while ( @more < 200 ) { push @more, ( await $sub->next )->{data} }
                }
            )->();
            publish_all( $ch, 'r', 1 .. 200 );
            ok( FIORTest::ready_within($reader), 'read 200 while they came' );
            is( \@more, [ map { "r$_" } 1 .. 200 ], 'in order' );
        };
        is( $w,              [], 'no warning' );
        is( $sub->is_closed, 0,  'still open' );
        $sub->unsubscribe->get;
        $redis->disconnect;
    };

    subtest "max_buffered_messages: overflow fails loudly, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %opt, max_buffered_messages => 10 );
        my $ch    = "$base:over";
        my $sub   = $redis->subscribe($ch)->get;
        $sub->psubscribe("$ch:p*")->get;
        my $w = warnings {
            is( publish_all( $ch, 'o', 1 .. 15 ), [ (1) x 15 ], 'published 15, unread' );
            until_true( sub { $sub->is_closed } );
            $loop->delay_future( after => 0.1 )->get;
        };
        is( scalar @$w, 1, 'one warning' );
        like( $w->[0] // '', qr/overflow/i, '... about the overflow' );
        is( $sub->is_closed,   1, 'the subscription is closed' );
        is( $redis->is_pubsub, 0, 'is_pubsub false' );

        # What was buffered first (in order, from the start), then the error.
        my ( @got, $err );
        for ( 1 .. 20 ) {
            my $f = $sub->next;
            ok( FIORTest::ready_within($f), 'next settles' ) or last;
            if ( $f->is_failed ) { $err = $f->failure; last }
            my $m = $f->get;
            last unless $m;
            push @got, $m->{data};
        }
        ok( @got <= 11, 'no more than the bound (+1) before the error (' . @got . ')' );
        is( \@got, [ map { "o$_" } 1 .. @got ], 'those in order, from the first' );
        isa_ok( $err, ['Future::IO::Redis::Error'], 'then next fails with Error' );
        like( ref $err ? $err->message : '', qr/overflow/i, '... mentioning the overflow' );
        my $again = FIORTest::failure_of( $sub->next );
        like( ref $again ? $again->message : 'not failed', qr/overflow/i, 'and again' );

        ok( until_true( sub { FIORTest::numsub( $pub, $ch )->[0] == 0 } ),
            'the client unsubscribed (NUMSUB 0)' );
        is( $pub->publish( "$ch:p1", 'x' )->get, 0,      '... and the pattern too' );
        is( $redis->ping->get,                   'PONG', 'the client runs commands again' );
        my $fresh = $redis->subscribe("$ch:new")->get;
        isnt( refaddr($fresh), refaddr($sub), 'subscribing afresh: a new subscription' );
        $pub->publish( "$ch:new", 'n' )->get;
        my $f = $fresh->next;
        ok( FIORTest::ready_within($f), 'it delivers' );
        is( $f->get->{data}, 'n', '... the message' );
        $fresh->unsubscribe->get;
        $redis->disconnect;
    };

    subtest "max_buffered_messages with a held on_message, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %opt, max_buffered_messages => 5 );
        my $ch    = "$base:held";
        my $sub   = $redis->subscribe($ch)->get;
        my @got;
        my $never = $loop->new_future;
        $sub->on_message( sub { push @got, $_[0]{data}; return $never } );
        my $w = warnings {
            publish_all( $ch, 'h', 1 .. 5 );
            $loop->delay_future( after => 0.2 )->get;
        };
        is( $w,    [],     '1 held + 4 waiting: no warning' );
        is( \@got, ['h1'], 'one delivered, the rest held back' );
        $w = warnings {
            publish_all( $ch, 'h', 6 .. 10 );
            until_true( sub { $sub->is_closed } );
        };
        is( scalar @$w, 1, 'past the bound: one warning' );
        like( $w->[0] // '', qr/overflow/i, '... about the overflow' );
        is( $sub->is_closed, 1, 'closed' );
        ok( until_true( sub { FIORTest::numsub( $pub, $ch )->[0] == 0 } ), 'unsubscribed' );
        $never->done;
        $redis->disconnect;
    };
}

$pub->disconnect;
done_testing;
