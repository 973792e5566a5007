# Regression tests for the pub/sub review fixes; each case failed (or hung,
# bounded here by a timer) on the code before them. On private
# redis-servers (ACL changes, a stopped server):
#  1. subscribe inside a manual MULTI fails at once with an error naming
#     MULTI; exec then gives [] and later commands get their own replies
#     (RESP2 and RESP3).
#  2. with reconnect, a reconnect's SUBSCRIBE refused (NOPERM, the channel
#     revoked by ACL) ends the subscription: is_closed, next gives undef,
#     no channels, not is_pubsub, on_error told, commands run again.
#  3. the same with only the channel refused and a pattern allowed: the
#     subscription keeps the pattern, on_reconnect is not called, and a
#     message matching the pattern arrives.
#  4. reconnecting given up (server stopped, reconnect_max_attempts): a
#     waiting next gives undef, is_closed, not is_pubsub.
#  5. an overflow (max_buffered_messages) while a second subscribe is on its
#     way: the server ends with neither channel subscribed, not is_pubsub,
#     next fails with the overflow error, one warning, commands run again.
#  6. a next() whose on_done callback dies: a warning, and the rest of the
#     batch (the next message for another next(), an ordinary reply) still
#     arrives.
#  7. 10,000 next() futures cancelled on a quiet channel leave no waiters.
#  8. fork: in the child, subscribe gives a new subscription object that
#     gets its own message; the parent keeps receiving.
#  9. subscribe then unsubscribe() (no names) before the confirmation ends
#     with nothing subscribed (client and server); on_message while a next()
#     waits croaks.
# 10. a burst of 50,000 messages (one EVAL) arrives complete and in order
#     while a 10 ms timer keeps firing during it.
use Test2::V0;
use IO::Async::Loop;
use IO::Async::Timer::Periodic;
use IO::Socket::INET;
use Scalar::Util qw(refaddr);
use Time::HiRes  qw(sleep);
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;
use FIORServer;

alarm 90;    # a hang fails the file instead

my $loop   = IO::Async::Loop->new;
my $server = FIORServer->new;        # ACL changes and kills: never on the shared server
my $port   = $server->port;
my %srv    = ( host => '127.0.0.1', port => $port );
my $base   = FIORTest::unique_key('review');

my $admin = Future::IO::Redis->new(%srv);
$admin->connect->get;

# A plain blocking socket to the private server: commands sent and answered
# without running the loop (so the subscriber's core queues what arrives
# while Perl has not drained it yet).
my $raw = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5 )
    or die "raw connection: $!";

sub raw {
    my (@args) = @_;
    print {$raw} '*' . @args . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @args;
    my $line = <$raw> // die "raw: connection closed\n";
    $line =~ s/\r\n\z//;
    return $line;    # the integer and status replies used here
}

# Runs $code with warnings collected; gives them.
sub warnings_of {
    my ($code) = @_;
    my @w;
    local $SIG{__WARN__} = sub { push @w, $_[0] };
    $code->();
    return \@w;
}

# --- 1 ---------------------------------------------------------------------

for my $protocol ( 2, 3 ) {
    subtest "subscribe inside multi_start is refused at once, RESP$protocol" => sub {
        my $key   = "$base:multi:$protocol";
        my $redis = Future::IO::Redis->new( %srv, protocol => $protocol, request_timeout => 3 );
        $redis->connect->get;
        $redis->multi_start->get;
        my $s = $redis->subscribe("$base:multi:ch");
        ok( $s->is_ready, 'the subscribe future is ready at once' );
        my $err = $s->is_ready && $s->is_failed ? $s->failure : undef;
        isa_ok( $err, ['Future::IO::Redis::Error'], 'it failed with a Future::IO::Redis::Error' );
        like( ref $err ? $err->message : '', qr/MULTI/, '... that mentions MULTI' );

        my $exec = $redis->exec;
        my $bad  = $redis->command('NOSUCHCMD');
        my $set  = $redis->set( $key, 'v' );
        my $get  = $redis->get($key);
        my $ping = $redis->ping;
        FIORTest::ready_within( Future->wait_all( $exec, $bad, $set, $get, $ping ), 5 );
        is(
              $exec->is_done   ? $exec->get
            : $exec->is_failed ? 'failed: ' . $exec->failure
            : 'pending',
            [],
            'exec gives []'
        );
        is(
            $bad->is_failed
                && ref $bad->failure
                && $bad->failure->can(q{type}) ? $bad->failure->type : q{no error reply},
            'ERR',
            'an unknown command gets its own error'
        );
        is( $set->is_done  ? $set->get  : 'not done', 'OK',   'SET gets OK' );
        is( $get->is_done  ? $get->get  : 'not done', 'v',    'GET gets its value' );
        is( $ping->is_done ? $ping->get : 'not done', 'PONG', 'PING gets PONG' );
        is( $redis->is_pubsub,                            0,   'not subscribed' );
        is( $redis->in_multi,                             0,   'not in MULTI' );
        is( FIORTest::numsub( $admin, "$base:multi:ch" ), [0], 'the server: nothing subscribed' );
        $admin->del($key)->get;
        $redis->disconnect;
    };
}

# --- 2 and 3 -----------------------------------------------------------------

for my $protocol ( 2, 3 ) {
    subtest "a reconnect's SUBSCRIBE refused ends the subscription, RESP$protocol" => sub {
        my $user = "review-u$protocol";
        my $ch   = "$base:acl:$protocol";
        my $key  = "$base:acl:key:$protocol";
        $admin->command( 'ACL', 'SETUSER', $user, qw(reset on >pw ~* +@all resetchannels), "&$ch" )
            ->get;
        my ( @errors, @reconnected );
        my $redis = Future::IO::Redis->new(
            %srv,
            protocol        => $protocol,
            username        => $user,
            password        => 'pw',
            reconnect       => 1,
            reconnect_delay => 0.05,
            on_error        => sub { push @errors, "$_[1]" },
        );
        my $sub = $redis->subscribe($ch)->get;
        $sub->on_reconnect( sub { push @reconnected, 1 } );
        my $waiting = $sub->next;

        # Revoking the channel kills the subscriber; the reconnect's
        # SUBSCRIBE is refused.
        $admin->command( 'ACL', 'SETUSER', $user, 'resetchannels', "&$base:other" )->get;
        ok( FIORTest::eventually( sub { $sub->is_closed } ), 'the subscription ends' );
        ok( FIORTest::ready_within( $waiting, 2 ),           'the waiting next is resolved' );
        is( $waiting->is_done ? $waiting->get : 'not done', undef, '... with undef' );
        my $later = $sub->next;
        ok( $later->is_ready, 'a later next is ready at once' );
        is( $later->is_done ? $later->get : 'not done', undef, '... with undef' );
        is( $sub->channels,                             [],    'no channels left' );
        is( $redis->is_pubsub,                          0,     'the client is not subscribed' );
        ok( ( grep { /NOPERM/ } @errors ), 'on_error was told of the refusal' )
            or diag( join "\n", @errors );
        is( \@reconnected,                   [],  'on_reconnect was not called' );
        is( FIORTest::numsub( $admin, $ch ), [0], 'the server: nothing subscribed' );

        my $set = $redis->set( $key, 'x' );
        ok( FIORTest::ready_within( $set, 3 ) && $set->is_done, 'the client runs commands again' )
            or diag( $set->is_failed ? $set->failure : 'pending' );
        $admin->del($key)->get;
        $redis->disconnect;
        $admin->command( 'ACL', 'DELUSER', $user )->get;
    };

    subtest "channel refused, pattern allowed on reconnect: the pattern stays, RESP$protocol" =>
        sub {
        my $user = "review-p$protocol";
        my $ch   = "$base:aclp:$protocol:chan";
        my $pat  = "$base:aclp:$protocol:p*";
        $admin->command( 'ACL', 'SETUSER', $user, qw(reset on >pw ~* +@all resetchannels),
            "&$ch", "&$pat" )->get;
        my ( @errors, @reconnected );
        my $redis = Future::IO::Redis->new(
            %srv,
            protocol        => $protocol,
            username        => $user,
            password        => 'pw',
            reconnect       => 1,
            reconnect_delay => 0.05,
            on_error        => sub { push @errors, "$_[1]" },
        );
        my $sub = $redis->subscribe($ch)->get;
        $sub->psubscribe($pat)->get;
        $sub->on_reconnect( sub { push @reconnected, 1 } );

        $admin->command( 'ACL', 'SETUSER', $user, 'resetchannels', "&$pat" )->get;
        ok(
            FIORTest::eventually(
                sub { !@{ $sub->channels } && $admin->command(qw(PUBSUB NUMPAT))->get == 1 }
            ),
            'the refused channel is dropped, the pattern subscribed again'
        );
        is( $sub->channels,    [],     'no channel' );
        is( $sub->patterns,    [$pat], 'the pattern kept' );
        is( $sub->is_closed,   0,      'the subscription is open' );
        is( $redis->is_pubsub, 1,      'the client is subscribed' );
        ok( ( grep { /NOPERM/ } @errors ), 'on_error was told of the refusal' )
            or diag( join "\n", @errors );

        my $match = "$base:aclp:$protocol:p1";
        is( $admin->publish( $match, 'hello' )->get, 1, 'one receiver for a pattern match' );
        my $n = $sub->next;
        FIORTest::ready_within( $n, 3 );
        is(
            $n->is_done && $n->get ? [ @{ $n->get }{qw(type pattern channel data)} ] : 'no message',
            [ 'pmessage', $pat, $match, 'hello' ],
            'the message matching the pattern arrives'
        );
        $loop->delay_future( after => 0.2 )->get;
        is( \@reconnected, [], 'on_reconnect was not called (a replay was refused)' );
        is( FIORTest::numsub( $admin, $ch ), [0], 'the server: the channel is not subscribed' );

        my $u = $sub->punsubscribe;
        FIORTest::ready_within( $u, 3 );
        is( $redis->is_pubsub, 0, 'unsubscribing the pattern ends it' );
        $redis->disconnect;
        $admin->command( 'ACL', 'DELUSER', $user )->get;
        };
}

# --- 4 -----------------------------------------------------------------------

subtest 'reconnecting given up ends the subscription' => sub {
    my $down = FIORServer->new;
    my ( @errors, @disconnects );
    my $redis = Future::IO::Redis->new(
        host                   => '127.0.0.1',
        port                   => $down->port,
        reconnect              => 1,
        reconnect_delay        => 0.05,
        reconnect_delay_max    => 0.1,
        reconnect_max_attempts => 2,
        on_error               => sub { push @errors,      "$_[1]" },
        on_disconnect          => sub { push @disconnects, $_[1] },
    );
    my $sub     = $redis->subscribe("$base:giveup")->get;
    my $waiting = $sub->next;
    $down->stop;
    ok( FIORTest::ready_within( $waiting, 5 ), 'the waiting next is resolved' );
    is( $waiting->is_done ? $waiting->get : 'not done', undef, '... with undef' );
    is( $sub->is_closed,                                1,     'the subscription is closed' );
    is( $redis->is_pubsub,                              0,     'the client is not subscribed' );
    my $later = $sub->next;
    is( $later->is_ready && $later->is_done ? $later->get : 'not undef',
        undef, 'a later next gives undef at once' );
    is( \@disconnects, ['connection_lost'], 'on_disconnect: connection_lost' );
    cmp_ok( scalar @errors, ">=", 3, "on_error: the drop and each failed attempt" )
        or diag( join "\n", @errors );
    $redis->disconnect;
};

# --- 5 -----------------------------------------------------------------------

for my $protocol ( 2, 3 ) {
    subtest "overflow while a subscribe is on its way unsubscribes both, RESP$protocol" => sub {
        my ( $ca, $cb ) = map { "$base:overflow:$protocol:$_" } qw(a b);
        my $key = "$base:overflow:key:$protocol";
        my $redis
            = Future::IO::Redis->new( %srv, protocol => $protocol, max_buffered_messages => 2 );
        my $sub = $redis->subscribe($ca)->get;
        my ( $s2, $err );
        my $w = warnings_of(
            sub {
                # The core receives all five; Perl reads none of them yet.
                raw( q{PUBLISH}, $ca, $_ ) for 1 .. 5;
                $s2 = $sub->subscribe($cb);                  # on its way when the overflow hits
                ok( FIORTest::eventually( sub { !$redis->is_pubsub } ), 'the subscription ends' );
                FIORTest::ready_within( $s2, 3 );
                $loop->delay_future( after => 0.2 )->get;    # anything late
            }
        );
        ok( $s2->is_ready, 'the second subscribe settled' );
        is(
            FIORTest::numsub( $admin, $ca, $cb ),
            [ 0, 0 ],
            'the server: neither channel subscribed'
        );
        is( $redis->is_pubsub, 0, 'the client is not subscribed' );
        is( $sub->is_closed,   1, 'the subscription is closed' );
        my $n = $sub->next;
        ok( $n->is_ready && $n->is_failed, 'next fails' );
        isa_ok( $n->is_failed ? $n->failure : undef, ['Future::IO::Redis::Error'], '... with' );
        like( $n->is_failed   ? $n->failure->message : '', qr/overflow/, '... the overflow error' );
        is( scalar( grep { /overflow/ } @$w ), 1, 'one overflow warning' ) or diag( join "", @$w );
        my $more = $sub->subscribe("$base:overflow:$protocol:c");
        ok( $more->is_ready && $more->is_failed, 'no new subscribe on the ended subscription' );

        my $set = $redis->set( $key, 'x' );
        ok( FIORTest::ready_within( $set, 3 ) && $set->is_done, 'the client runs commands again' )
            or diag( $set->is_failed ? $set->failure : 'pending' );
        $admin->del($key)->get;
        $redis->disconnect;
    };
}

# --- 6 -----------------------------------------------------------------------

subtest 'a dying next() callback does not stall the rest of its batch' => sub {
    my $ch    = "$base:dying";
    my $key   = "$base:dying:key";
    my $redis = Future::IO::Redis->new( %srv, protocol => 3 );
    $redis->set( $key, 'v' )->get;
    my $sub = $redis->subscribe($ch)->get;
    my @got;
    $sub->next->on_done(
        sub {
            push @got, $_[0]{data};
            die "review: next callback died\n";
        }
    );
    my ( $get, $second, $ran );
    my $w = warnings_of(
        sub {
            raw( 'PUBLISH', $ch, $_ ) for qw(m1 m2);
            $get = $redis->get($key);    # its reply comes after m1 and m2
            sleep 0.3;                   # the core has them all: one batch
            $second = $sub->next;
            $ran    = eval {
                $loop->await(
                    Future->wait_any(
                        Future->wait_all( $get->without_cancel, $second->without_cancel ),
                        $loop->delay_future( after => 3 )
                    )
                );
                1;
            };
        }
    );
    ok( $ran, 'the loop ran on' ) or diag($@);
    is( \@got,                                               ['m1'], 'the dying callback got m1' );
    is( scalar( grep { /review: next callback died/ } @$w ), 1,      'the death was warned about' )
        or diag( join "", @$w );
    is( $second->is_done && $second->get ? $second->get->{data} : 'not done',
        'm2', 'the second next got m2' );
    is( $get->is_done ? $get->get : 'not done', 'v', 'the GET got its reply' );
    $sub->unsubscribe->get;
    $redis->del($key)->get;
    $redis->disconnect;
};

# --- 7 -----------------------------------------------------------------------

subtest 'cancelled next() futures leave no waiters' => sub {
    my $ch    = "$base:quiet";
    my $redis = Future::IO::Redis->new(%srv);
    my $sub   = $redis->subscribe($ch)->get;
    for ( 1 .. 10_000 ) {
        my $f = $sub->next;
        $f->cancel;
    }
    is( scalar @{ $sub->{waiters} }, 0, 'no waiter kept' );
    my $n = $sub->next;
    is( scalar @{ $sub->{waiters} },       1, 'a live next waits' );
    is( $admin->publish( $ch, 'hi' )->get, 1, 'published' );
    FIORTest::ready_within( $n, 3 );
    is( $n->is_done && $n->get ? $n->get->{data} : 'no message', 'hi', 'and gets the message' );
    $sub->unsubscribe->get;
    $redis->disconnect;
};

# --- 8 -----------------------------------------------------------------------

subtest 'fork: the child subscribes with a new subscription object' => sub {
    my ( $pch, $cch ) = map { "$base:fork:$_" } qw(parent child);
    my $redis = Future::IO::Redis->new( %srv, reconnect => 1 );
    my $sub   = $redis->subscribe($pch)->get;
    my $paddr = refaddr $sub;

    my ( $pid, $from_child ) = FIORTest::in_child(
        sub {
            alarm 20;
            my $loop = IO::Async::Loop->new;
            my $wait = sub {
                my ( $f, $secs ) = @_;
                $loop->await(
                    Future->wait_any( $f->without_cancel, $loop->delay_future( after => $secs ) ) );
                return $f->is_done ? $f->get : $f->is_failed ? 'FAILED ' . $f->failure : 'PENDING';
            };
            my $s = $wait->( $redis->subscribe($cch), 5 );
            die "subscribe: $s\n" unless ref $s;
            my @r = (
                refaddr($s) == $paddr ? 'same' : 'new',
                $s->is_closed, join( ',', @{ $s->channels } )
            );
            my $other = Future::IO::Redis->new(%srv);
            push @r, $wait->( $other->publish( $cch, 'hello child' ), 5 );
            my $m = $wait->( $s->next, 5 );
            push @r, ref $m ? $m->{data} : $m // 'undef';
            join "\t", @r;
        }
    );
    my $out = FIORTest::child_output( $pid, $from_child ) // '';
    is(
        [ split /\t/, $out, -1 ],
        [ 'new', 0, $cch, 1, 'hello child' ],
        'in the child: a new, open subscription on its channel, and its message'
    ) or diag("child: $out");

    is( $admin->publish( $pch, 'hello parent' )->get, 1, 'the parent is still subscribed' );
    my $n = $sub->next;
    FIORTest::ready_within( $n, 3 );
    is( $n->is_done && $n->get ? $n->get->{data} : 'no message',
        'hello parent', 'the parent still receives' );
    is( $redis->is_pubsub, 1, 'is_pubsub in the parent' );
    is(
        FIORTest::numsub( $admin, $pch, $cch ),
        [ 1, 0 ],
        'the server: the parent subscribed, the child gone'
    );
    $sub->unsubscribe->get;
    $redis->disconnect;
};

# --- 9 -----------------------------------------------------------------------

subtest 'unsubscribe() before the subscribe is confirmed; on_message while next waits' => sub {
    my $ch    = "$base:early";
    my $redis = Future::IO::Redis->new(%srv);
    $redis->connect->get;
    my $s = $redis->subscribe($ch);
    my $u = $redis->unsubscribe;      # every channel, the one on its way too
    FIORTest::ready_within( Future->wait_all( $s, $u ), 3 );
    ok( $s->is_ready && $u->is_ready,                       'both settled' );
    ok( FIORTest::eventually( sub { !$redis->is_pubsub } ), 'the client is not subscribed' );
    $loop->delay_future( after => 0.1 )->get;
    is( $redis->is_pubsub,               0,   '... and stays so' );
    is( FIORTest::numsub( $admin, $ch ), [0], 'the server: nothing subscribed' );
    my $ping = $redis->ping;
    FIORTest::ready_within( $ping, 3 );
    is( $ping->is_done ? $ping->get : 'not done', 'PONG', 'the client runs commands' );
    $redis->disconnect;

    my $ch2    = "$base:early:2";
    my $reader = Future::IO::Redis->new(%srv);
    my $sub    = $reader->subscribe($ch2)->get;
    my $n      = $sub->next;
    like(
        dies {
            $sub->on_message( sub { } )
        },
        qr/next\(\) calls are still waiting/,
        'on_message croaks while a next() waits'
    );
    is( $admin->publish( $ch2, 'one' )->get, 1, 'published' );
    FIORTest::ready_within( $n, 3 );
    is( $n->is_done && $n->get ? $n->get->{data} : 'no message', 'one', 'the next() got it' );
    ok(
        lives {
            $sub->on_message( sub { } )
        },
        'on_message once no next() waits'
    );
    $sub->unsubscribe->get;
    $reader->disconnect;
};

# --- 10 ----------------------------------------------------------------------

subtest 'a burst of 50,000 messages: all in order, the loop keeps turning' => sub {
    my $total = 50_000;
    my $ch    = "$base:burst";
    my $redis = Future::IO::Redis->new(%srv);
    my $sub   = $redis->subscribe($ch)->get;

    my ( $count, $in_order, $ticks, $first_tick, $last_tick, $t0, $t1 ) = ( 0, 1, 0 );
    my $all = $loop->new_future;
    $sub->on_message(
        sub {
            my ($m) = @_;
            $t0         //= Time::HiRes::time();
            $first_tick //= $ticks;
            $in_order = 0 unless $m->{data} == $count + 1;
            if ( ++$count == $total ) {
                $last_tick = $ticks;
                $t1        = Time::HiRes::time();
                $all->done;
            }
            return;
        }
    );
    my $timer = IO::Async::Timer::Periodic->new(
        interval   => 0.01,
        reschedule => q{drift},           # ticks 10 ms apart, no catching up
        on_tick    => sub { $ticks++ },
    );
    $loop->add($timer);
    $timer->start;

    # Published with the loop stopped: the core has the whole burst queued
    # before Perl takes any of it.
    is(
        raw(
            'EVAL',
            "for i = 1, tonumber(ARGV[2]) do redis.call('PUBLISH', ARGV[1], i) end return 0",
            0, $ch, $total
        ),
        ':0',
        'published with one EVAL'
    );
    sleep 0.5;
    ok( FIORTest::ready_within( $all, 20 ), 'every message arrived' );
    $timer->stop;
    $loop->remove($timer);
    is( $count,    $total, "$total messages" );
    is( $in_order, 1,      'in publish order' );
    my $during = defined $last_tick ? $last_tick - $first_tick : -1;
    note( sprintf "timer ticks during the burst: %d (%.3f s), in all: %d",
        $during, ( $t1 // 0 ) - ( $t0 // 0 ), $ticks );
    cmp_ok( $during, q{>=}, 2, 'the 10 ms timer fired during the burst' )
        or diag("ticks during the burst: $during, in all: $ticks");
    $sub->unsubscribe->get;
    $redis->disconnect;
};

close $raw;
$admin->disconnect;
done_testing;
