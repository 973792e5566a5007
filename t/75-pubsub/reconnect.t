# Acceptance, under RESP2 and RESP3, on a private redis-server: with
# reconnect => 1, CLIENT KILL TYPE pubsub in the middle of a publish
# stream kills exactly the subscriber; it reconnects, on_reconnect runs
# once (given the subscription), the same subscription goes on with its
# channels and pattern unchanged and the server shows it subscribed again
# (PUBSUB NUMSUB / NUMPAT, on a new connection), and it receives every
# message published after on_reconnect ran, in order, each once (only
# messages from the gap may be missing); a waiting next just waits through
# the drop. The same after a server restart. Without reconnect a drop ends
# the subscription: a waiting next and every later one give undef,
# is_closed, is_pubsub false.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Scalar::Util qw(refaddr);
use lib 't/lib';
use FIORTest;
use FIORServer;

alarm 120;    # a hang fails the file instead

my $loop   = IO::Async::Loop->new;
my $server = FIORServer->new;        # CLIENT KILL and restarts: never on the shared server
my %srv    = ( host => '127.0.0.1', port => $server->port );
my $base   = FIORTest::unique_key('reconnect');

my $admin = Future::IO::Redis->new( %srv, reconnect => 1, reconnect_delay => 0.05 );
$admin->connect->get;

# The subscribed connections the server has: [ id, sub, psub ] each.
sub subscribers {
    my $list = $admin->command( 'CLIENT', 'LIST' )->get;
    return [
        map      { /\bid=(\d+)\b.*\bsub=(\d+)\b.*\bpsub=(\d+)\b/ ? [ $1, $2, $3 ] : () }
            grep { /\bflags=\S*P/ } split /\r?\n/,
        $list
    ];
}

for my $protocol ( 2, 3 ) {
    subtest "CLIENT KILL TYPE pubsub mid-stream, reconnect => 1, RESP$protocol" => sub {
        my ( $ca, $cb, $pat ) = map { "$base:$protocol:$_" } qw(a b p*);
        my @targets = ( "$base:$protocol:a", "$base:$protocol:b", "$base:$protocol:p1" );
        my @kind    = ( [ 'message', undef ], [ 'message', undef ], [ 'pmessage', $pat ] );
        my @events;
        my $redis = Future::IO::Redis->new(
            %srv,
            protocol        => $protocol,
            reconnect       => 1,
            reconnect_delay => 0.05,
            on_disconnect   => sub { push @events, "disconnect:$_[1]" },
        );
        my $sub = $redis->subscribe( $ca, $cb )->get;
        $sub->psubscribe($pat)->get;
        my $before = subscribers();
        is(
            [ map { [ @$_[ 1, 2 ] ] } @$before ],
            [ [ 2, 1 ] ],
            'one subscribed connection: 2 channels, 1 pattern'
        );

        my $pub    = Future::IO::Redis->new(%srv);
        my $killer = Future::IO::Redis->new(%srv);
        $pub->connect->get;
        $killer->connect->get;

        my $seq = 0;    # the next message to publish
        my ( $cutoff, $stop_at, $killed, @reconnects, @counts );
        $sub->on_reconnect(
            sub {
                push @reconnects, $_[0];
                $cutoff //= $seq;    # every PUBLISH from here on must arrive
                $stop_at = $cutoff + 300;
            }
        );

        my $publisher = (
            async sub {
                while ( !defined $stop_at || $seq < $stop_at ) {
                    my $i = $seq++;
                    $counts[$i] = await $pub->publish( $targets[ $i % 3 ], $i );
                    await $loop->delay_future( after => 0.002 );
                    die "no on_reconnect after 1500 messages\n" if $i > 1500 && !defined $cutoff;
                }
            }
        )->();

        my @got;
        my $reader = (
            async sub {
                while (1) {
                    my $m = await $sub->next;
                    last unless $m;
                    push @got, [ @{$m}{qw(type channel pattern data)} ];
                    if ( @got == 100 && !$killed ) {
                        $killed = await $killer->command( 'CLIENT', 'KILL', 'TYPE', 'pubsub' );
                    }
                    last if defined $stop_at && $m->{data} >= $stop_at - 1;
                }
            }
        )->();

        # (Either failing ends the wait.)
        my $both = Future->needs_all( $publisher, $reader );
        ok( FIORTest::ready_within( $both, 30 ), 'the stream ended' );
        $_->cancel for grep { !$_->is_ready } $publisher, $reader;
        ok( $publisher->is_done, 'the publisher finished' )
            or diag( $publisher->failure // "not finished" );
        ok( $reader->is_done, 'the reader finished' ) or diag( $reader->failure // "not finished" );
        is( $killed,            1, 'CLIENT KILL TYPE pubsub killed one client: the subscriber' );
        is( scalar @reconnects, 1, 'on_reconnect ran once' );
        is( refaddr( $reconnects[0] ), refaddr($sub), '... given the subscription' );
        ok( defined $cutoff && $cutoff > 100, "on_reconnect came after the kill (at $cutoff)" );
        is( \@events, ['disconnect:connection_lost'], 'on_disconnect: connection_lost, once' );

        my @seqs      = map  { $_->[3] } @got;
        my @bad_order = grep { $seqs[$_] <= $seqs[ $_ - 1 ] } 1 .. $#seqs;
        is( \@bad_order,          [],          'strictly in publish order, none twice' );
        is( [ @seqs[ 0 .. 99 ] ], [ 0 .. 99 ], 'the first 100: all, before the kill' );
        my %have    = map  { $_ => 1 } @seqs;
        my @missing = grep { !$have{$_} } ( $cutoff // 0 ) .. ( $stop_at // 0 ) - 1;
        is( \@missing, [], 'none missing of the 300 published after on_reconnect' );
        is( [ grep { ( $counts[$_] // -1 ) != 1 } ( $cutoff // 0 ) .. ( $stop_at // 0 ) - 1 ],
            [], 'each of those had one receiver' );
        my @wrong = grep {
            my ( $type, $ch, $p, $i ) = @$_;
            !(     $i =~ /\A\d+\z/
                && $type eq $kind[ $i % 3 ][0]
                && $ch eq $targets[ $i % 3 ]
                && ( $p // '' ) eq ( $kind[ $i % 3 ][1] // '' ) )
        } @got;
        is( \@wrong, [], 'each with the right type, channel and pattern' );
        note( 'lost in the gap: ' . ( ( $stop_at // 0 ) - @got ) );

        is( $sub->is_closed,                      0,            'the subscription is still open' );
        is( $redis->is_pubsub,                    1,            'is_pubsub' );
        is( $sub->channels,                       [ $ca, $cb ], 'channels unchanged' );
        is( $sub->patterns,                       [$pat],       'patterns unchanged' );
        is( FIORTest::numsub( $admin, $ca, $cb ), [ 1, 1 ],     'PUBSUB NUMSUB: subscribed again' );
        is( $admin->pubsub_numpat->get,           1,            'PUBSUB NUMPAT: 1' );
        my $after = subscribers();
        is( [ map { [ @$_[ 1, 2 ] ] } @$after ], [ [ 2, 1 ] ], 'one subscribed connection again' );
        isnt( $after->[0][0], $before->[0][0], '... a new one' );

        if ( $protocol == 3 ) {
            is( $redis->ping->get, 'PONG', 'RESP3: commands work after the reconnect' );
        }
        else {
            my $err = FIORTest::failure_of( $redis->ping );
            isa_ok(
                $err,
                ['Future::IO::Redis::Error::Protocol'],
                'RESP2: still subscribed, commands refused'
            );
        }

        $sub->unsubscribe->get;
        $sub->punsubscribe->get;
        is( $sub->is_closed,                      1,        'unsubscribed' );
        is( FIORTest::numsub( $admin, $ca, $cb ), [ 0, 0 ], 'the server agrees' );
        $_->disconnect for $redis, $pub, $killer;
    };

    subtest "a server restart, reconnect => 1, RESP$protocol" => sub {
        my ( $ch, $pat ) = ( "$base:restart$protocol:c", "$base:restart$protocol:p*" );
        my $redis = Future::IO::Redis->new(
            %srv,
            protocol        => $protocol,
            reconnect       => 1,
            reconnect_delay => 0.05,
        );
        my $sub = $redis->subscribe($ch)->get;
        $sub->psubscribe($pat)->get;
        my $reconnected = 0;
        $sub->on_reconnect( sub { $reconnected++ } );
        my $waiting = $sub->next;

        $server->stop;
        $server->start;
        ok( FIORTest::eventually( sub { $reconnected }, 10 ),
            'on_reconnect ran after the restart' );
        ok( !$waiting->is_ready, 'a next waiting through the drop still waits' );
        is( $sub->channels,                  [$ch],  'channels unchanged' );
        is( $sub->patterns,                  [$pat], 'patterns unchanged' );
        is( FIORTest::numsub( $admin, $ch ), [1],    'the new server has the channel' );
        is( $admin->pubsub_numpat->get,      1,      'and the pattern' );

        is( $admin->publish( $ch, 'after' )->get, 1, 'PUBLISH: one receiver' );
        ok( FIORTest::ready_within($waiting), 'the waiting next got it' );
        is(
            $waiting->is_done ? $waiting->get : $waiting->failure,
            { type => 'message', channel => $ch, pattern => undef, data => 'after' },
            '... the message'
        );
        is( $admin->publish( "$base:restart$protocol:p1", 'pat' )->get, 1, 'and by the pattern' );
        is(
            FIORTest::next_tuple($sub),
            [ 'pmessage', "$base:restart$protocol:p1", $pat, 'pat' ],
            '... the pmessage'
        );
        is( $reconnected, 1, 'on_reconnect ran once' );
        $sub->unsubscribe->get;
        $sub->punsubscribe->get;
        $redis->disconnect;
    };

    subtest "a drop without reconnect ends the subscription, RESP$protocol" => sub {
        my ( $ch, $pat ) = ( "$base:noreconnect$protocol:c", "$base:noreconnect$protocol:p*" );
        my @events;
        my $redis = Future::IO::Redis->new(
            %srv,
            protocol      => $protocol,
            on_disconnect => sub { push @events, "disconnect:$_[1]" },
        );
        my $sub = $redis->subscribe($ch)->get;
        $sub->psubscribe($pat)->get;
        $admin->publish( $ch, 'before' )->get;
        is(
            FIORTest::next_tuple($sub),
            [ 'message', $ch, undef, 'before' ],
            'a message before the drop'
        );

        my $waiting = $sub->next;
        is( $admin->command( 'CLIENT', 'KILL', 'TYPE', 'pubsub' )->get, 1,
            'killed the subscriber' );
        ok( FIORTest::ready_within($waiting), 'the waiting next settled' );
        is( [ $waiting->is_done ? $waiting->get : 'failed: ' . $waiting->failure ],
            [undef], '... with undef' );
        is( $sub->is_closed,             1,                              'is_closed' );
        is( $redis->is_pubsub,           0,                              'is_pubsub false' );
        is( FIORTest::next_tuple($sub),  undef,                          'a later next: undef' );
        is( [ $sub->next_message->get ], [undef],                        'next_message: undef' );
        is( \@events,                    ['disconnect:connection_lost'], 'on_disconnect ran' );
        is( FIORTest::numsub( $admin, $ch ),      [0],   'the server has no subscriber' );
        is( $admin->publish( $ch, 'after' )->get, 0,     'a later PUBLISH reaches no one' );
        is( FIORTest::next_tuple($sub),           undef, 'still undef' );
        $redis->disconnect;
    };
}

$admin->disconnect;
done_testing;
