# Regression tests for the cross-feature review fixes (transactions, WATCH,
# pub/sub, reconnect, auto-pipelining and fork meeting each other). Each case
# failed (or hung: bounded here by timers) on the code before them. On a
# private redis-server and on fake servers forked from this file:
#  1. subscribe while a multi_start is on its way (not awaited) fails at once
#     with an error naming MULTI; exec then runs, and 200 GETs interleaved
#     with another client's publishes on that channel each get their own
#     value (RESP2): nothing is taken for a pub/sub message.
#  2. a manual watch/multi_start that is never sent (a bad argument, with and
#     without auto_pipeline; watch after disconnect, then connect; multi_start
#     while subscribed under RESP2; watch cancelled in the same tick under
#     auto_pipeline) holds nothing: watching is 0, a watch_multi completes.
#  3. with reconnect, a MULTI/WATCH answered +OK together with the close (one
#     write): the reply comes before on_disconnect, and once reconnected
#     in_multi and watching are 0.
#  4. SELECT 5 queued in a manual MULTI, EXEC answered [OK] and the close
#     right after it: the database option becomes 5 and the reconnect selects
#     database 5.
#  5. an unsolicited ["subscribe","x",1] after a reply does not turn a RESP2
#     client into a subscriber: is_pubsub stays 0, the next GETs work.
#  6. RESP2: subscribe inside a watch_multi callback fails (a watch_multi is
#     in progress); the failed watch_multi sends UNWATCH, so a later plain
#     multi runs although another client changed the watched key.
#  7. fork: in the child, the parent's subscription fails next() (a waiting
#     one made before the fork and a new one) with Disconnected (reason
#     fork), and its subscribe fails; the client subscribes anew and works,
#     PING works; the parent keeps receiving. (RESP2 and RESP3.)
use Test2::V0;
use IO::Async::Loop;
use IO::Select;
use IO::Socket::INET;
use POSIX        ();
use Scalar::Util qw(refaddr);
use Socket       qw(IPPROTO_TCP);
use Time::HiRes  qw(time);
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;
use FIORServer;

alarm 90;    # a hang fails the file instead

my $loop   = IO::Async::Loop->new;
my $server = FIORServer->new;
my %srv    = ( host => '127.0.0.1', port => $server->port );
my $base   = FIORTest::unique_key('interactions');

sub message_of { my ($f) = @_; $f->is_failed ? '' . ( $f->failure )[0] : '' }

# A watch_multi on the client finishes (nothing holds its WATCH gate).
my $wm_count = 0;

sub watch_multi_completes {
    my ( $redis, $name ) = @_;
    my $key = "$base:wm:" . ++$wm_count;
    my $wm  = $redis->watch_multi( [$key], sub { $_[0]->incr($key) } );
    ok( FIORTest::ready_within( $wm, 2 ), "$name: a watch_multi afterwards completes" );
    ok( $wm->is_done,                     "$name: ... and succeeds" ) or diag( message_of($wm) );
    return;
}

# --- a fake server -----------------------------------------------------------

# The handshake's answers (CLIENT SETINFO, SELECT, HELLO) and PING.
sub std_answer {
    my ($cmd) = @_;
    my $word = uc $cmd->[0];
    return "+OK\r\n"                    if $word eq 'CLIENT' || $word eq 'SELECT';
    return "%1\r\n+server\r\n+fake\r\n" if $word eq 'HELLO';
    return "+PONG\r\n"                  if $word eq 'PING';
    return;
}

sub bulk { '$' . length( $_[0] ) . "\r\n$_[0]\r\n" }

sub parse_command {
    my ($buf) = @_;
    return unless $$buf =~ /\A\*(\d+)\r\n/;
    my ( $n, $pos, @words ) = ( $1, length("*$1\r\n") );
    for ( 1 .. $n ) {
        return unless substr( $$buf, $pos ) =~ /\A\$(\d+)\r\n/;
        my ( $len, $head ) = ( $1, length("\$$1\r\n") );
        return if length($$buf) < $pos + $head + $len + 2;
        push @words, substr( $$buf, $pos + $head, $len );
        $pos += $head + $len + 2;
    }
    substr( $$buf, 0, $pos, '' );
    return \@words;
}

# Forks a server on a free loopback port. $answer->($conn, \@words) gives the
# bytes to write and whether to close right after them (then the bytes and
# the close leave in one segment); $conn is a hash per connection ({ no =>
# 1, 2, ... }) the answer may keep state in. Every command is logged as
# "NO WORD ARGS" for stop_fake.
sub fake_server {
    my ($answer) = @_;
    my $listener = IO::Socket::INET->new( LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 10 )
        or die "listen: $!";
    pipe( my $log_in, my $log_out ) or die "pipe: $!";
    my $parent = $$;
    my $pid    = fork // die "fork: $!";
    if ( !$pid ) {
        close $log_in;
        $log_out->autoflush(1);
        alarm 60;
        my $select = IO::Select->new($listener);
        my ( %buf, %conn );
        my $n = 0;
        while ( getppid == $parent ) {
            for my $fh ( $select->can_read(0.2) ) {
                if ( $fh == $listener ) {
                    my $client = $listener->accept or next;
                    $select->add($client);
                    $buf{$client}  = '';
                    $conn{$client} = { no => ++$n };
                    next;
                }
                if ( !sysread( $fh, $buf{$fh}, 65536, length $buf{$fh} ) ) {
                    $select->remove($fh);
                    close $fh;
                    next;
                }
                while ( my $cmd = parse_command( \$buf{$fh} ) ) {
                    print {$log_out} "$conn{$fh}{no} @$cmd\n";
                    my ( $out, $close ) = $answer->( $conn{$fh}, $cmd );
                    if ($close) {

                        # Linux: hold the bytes back until the FIN goes too.
                        eval { setsockopt( $fh, IPPROTO_TCP, Socket::TCP_CORK(), 1 ) };
                        syswrite( $fh, $out ) if defined $out;
                        shutdown( $fh, 1 );
                        $select->remove($fh);
                        close $fh;
                        last;
                    }
                    syswrite( $fh, $out ) if defined $out;
                }
            }
        }
        POSIX::_exit(0);
    }
    close $log_out;
    my $port = $listener->sockport;
    close $listener;
    return { port => $port, pid => $pid, log => $log_in };
}

# Stops the fake server; gives the commands it saw.
sub stop_fake {
    my ($fake) = @_;
    kill 'TERM', $fake->{pid};
    waitpid $fake->{pid}, 0;
    my $fh = $fake->{log};
    return [ map { chomp; $_ } <$fh> ];
}

# --- 1 -----------------------------------------------------------------------

subtest 'subscribe while a multi_start is on its way' => sub {
    my $channel = "$base:1:chan";
    my @keys    = map { "$base:1:k$_" } 1 .. 200;
    my $redis   = Future::IO::Redis->new( %srv, protocol => 2 );
    my $pub     = Future::IO::Redis->new(%srv);
    $redis->connect->get;
    $pub->mset( map { ( $keys[$_], "value $_" ) } 0 .. $#keys )->get;

    my $multi = $redis->multi_start;           # not awaited
    my $s     = $redis->subscribe($channel);
    ok( $s->is_ready,                                     'subscribe is settled at once' );
    ok( FIORTest::ready_within( $s, 5 ) && $s->is_failed, '... failed' );
    like( message_of($s), qr/MULTI/, '... naming MULTI' );

    ok( FIORTest::ready_within( $multi, 5 ) && $multi->is_done, 'multi_start done' )
        or diag( message_of($multi) );
    my $exec = $redis->exec;
    ok( FIORTest::ready_within( $exec, 5 ) && $exec->is_done, 'exec runs' )
        or diag( message_of($exec) );
    is( $exec->is_done ? $exec->get : undef, [], '... an empty transaction' );
    is( $redis->is_pubsub,                   0,  'not a subscriber' );

    my ( @gets, @pubs );
    for my $i ( 0 .. $#keys ) {
        push @gets, $redis->get( $keys[$i] );
        push @pubs, $pub->publish( $channel, "msg $i" );
    }
    my $all = Future->wait_all( @gets, @pubs );
    ok( FIORTest::ready_within( $all, 10 ), 'all GETs and publishes settle' );
    is(
        [ map { $_->is_done ? $_->get : 'FAILED ' . message_of($_) } @gets ],
        [ map { "value $_" } 0 .. $#keys ],
        'every GET gets its own value (no pub/sub message among them)'
    );
    is( [ grep { !$_->is_done || $_->get != 0 } @pubs ],
        [], 'nobody on the server was subscribed to the channel' );
    $pub->del(@keys)->get;
    $_->disconnect for $redis, $pub;
};

# --- 2 -----------------------------------------------------------------------

subtest 'a manual WATCH or MULTI that is never sent holds nothing' => sub {
    my $x = "$base:2:x";
    for my $ap ( 0, 1 ) {
        my $redis = Future::IO::Redis->new( %srv, auto_pipeline => $ap );
        my $w     = $redis->watch( $x, undef );
        ok(
            FIORTest::ready_within( $w, 2 ) && $w->is_failed,
            "auto_pipeline $ap: watch(x, undef) fails"
        );
        like( message_of($w), qr/undef/, '... on its bad argument' );
        is( $redis->watching, 0, '... not watching' );
        watch_multi_completes( $redis, "auto_pipeline $ap, bad argument" );
        $redis->disconnect;
    }

    {
        my $redis = Future::IO::Redis->new(%srv);
        $redis->connect->get;
        $redis->disconnect;
        my $w = $redis->watch($x);
        ok( FIORTest::ready_within( $w, 2 ) && $w->is_failed, 'watch after disconnect fails' );
        $redis->connect->get;
        is( $redis->watching, 0, '... not watching once connected again' );
        watch_multi_completes( $redis, 'watch after disconnect, then connect' );
        $redis->disconnect;
    }

    {
        my $redis = Future::IO::Redis->new( %srv, protocol => 2 );
        $redis->subscribe("$base:2:chan")->get;
        my $m = $redis->multi_start;
        ok(
            FIORTest::ready_within( $m, 2 ) && $m->is_failed,
            'multi_start while subscribed (RESP2) fails'
        );
        $redis->unsubscribe->get;
        is( $redis->in_multi, 0, '... not in MULTI' );
        watch_multi_completes( $redis, 'multi_start while subscribed, then unsubscribe' );
        $redis->disconnect;
    }

    {
        my $redis = Future::IO::Redis->new( %srv, auto_pipeline => 1 );
        $redis->ping->get;
        my $w = $redis->watch($x);
        $w->cancel;    # before this tick's flush
        $loop->delay_future( after => 0.1 )->get;
        is( $redis->watching, 0, 'watch cancelled before the auto-pipelined flush: not watching' );
        watch_multi_completes( $redis, 'watch cancelled before the flush' );
        $redis->disconnect;
    }
};

# --- 3 -----------------------------------------------------------------------

subtest 'a MULTI/WATCH reply that arrives with the close' => sub {
    my $fake = fake_server(
        sub {
            my ( $conn, $cmd ) = @_;
            my $std = std_answer($cmd);
            return $std             if defined $std;
            return ( "+OK\r\n", 1 ) if $cmd->[0] =~ /^(?:MULTI|WATCH)$/i;
            return "-ERR unknown command\r\n";
        }
    );
    for my $what (qw(multi_start watch)) {
        for my $round ( 1 .. 5 ) {
            my @events;
            my $connects = 0;
            my $redis    = Future::IO::Redis->new(
                host            => '127.0.0.1',
                port            => $fake->{port},
                reconnect       => 1,
                reconnect_delay => 0.05,
                on_connect      => sub { $connects++ },
                on_disconnect   => sub { push @events, 'disconnect' },
            );
            $redis->connect->get;
            my $f = $what eq 'watch' ? $redis->watch("$base:3:k") : $redis->multi_start;
            $f->on_ready( sub { push @events, 'reply' } );
            my $back = FIORTest::eventually( sub { $connects >= 2 && $redis->is_connected }, 5 );
            ok( $back, "$what #$round: reconnected" );
            is( \@events, [ 'reply', 'disconnect' ], "$what #$round: the reply came first" );
            is(
                [ $redis->in_multi, $redis->watching ],
                [ 0,                0 ],
                "$what #$round: neither in MULTI nor watching once reconnected"
            );
            $redis->disconnect;
        }
    }
    stop_fake($fake);
};

# --- 4 -----------------------------------------------------------------------

subtest 'SELECT in a manual MULTI, EXEC answered with the close' => sub {
    my $fake = fake_server(
        sub {
            my ( $conn, $cmd ) = @_;
            my $word = uc $cmd->[0];
            if ( $conn->{multi} ) {
                return ( "*1\r\n+OK\r\n", 1 ) if $word eq 'EXEC';
                return "+QUEUED\r\n";
            }
            if ( $word eq 'MULTI' ) { $conn->{multi} = 1; return "+OK\r\n" }
            return std_answer($cmd) // "-ERR unknown command\r\n";
        }
    );
    my $connects = 0;
    my $redis    = Future::IO::Redis->new(
        host            => '127.0.0.1',
        port            => $fake->{port},
        reconnect       => 1,
        reconnect_delay => 0.05,
        on_connect      => sub { $connects++ },
    );
    $redis->connect->get;
    $redis->multi_start->get;
    is( $redis->select(5)->get, 'QUEUED', 'SELECT 5 queued' );
    my $exec = $redis->exec;
    ok( FIORTest::ready_within( $exec, 5 ) && $exec->is_done, 'exec done' )
        or diag( message_of($exec) );
    is( $exec->is_done ? $exec->get : undef, ['OK'], '... [OK]' );
    ok( FIORTest::eventually( sub { $connects >= 2 && $redis->is_connected }, 5 ), 'reconnected' );
    is( $redis->ping->get,  'PONG', '... and answering' );
    is( $redis->{database}, 5,      'the database option is 5' );
    $redis->disconnect;
    my $seen = stop_fake($fake);
    is( [ grep { /^2 SELECT/i } @$seen ], ['2 SELECT 5'], 'the reconnect selected database 5' )
        or diag( join "\n", @$seen );
};

# --- 5 -----------------------------------------------------------------------

subtest 'an unsolicited subscribe confirmation (RESP2)' => sub {
    my $confirmation = "*3\r\n\$9\r\nsubscribe\r\n\$1\r\nx\r\n:1\r\n";
    my $fake         = fake_server(
        sub {
            my ( $conn, $cmd ) = @_;
            my $std = std_answer($cmd);
            return $std if defined $std;
            if ( uc $cmd->[0] eq 'GET' ) {
                return bulk("value of $cmd->[1]") . ( $cmd->[1] eq 'trigger' ? $confirmation : '' );
            }
            return "-ERR unknown command\r\n";
        }
    );
    my $redis = Future::IO::Redis->new( host => '127.0.0.1', port => $fake->{port}, protocol => 2 );
    is( $redis->get('trigger')->get, 'value of trigger', 'the GET before it gets its value' );
    $loop->delay_future( after => 0.1 )->get;    # the confirmation has come by now
    is( $redis->is_pubsub, 0, 'not a subscriber' );
    for my $key (qw(a b c)) {
        my $g = $redis->get($key);
        ok( FIORTest::ready_within( $g, 2 ) && $g->is_done, "GET $key works" )
            or diag( message_of($g) );
        is( $g->is_done ? $g->get : undef, "value of $key", "... its own value" );
    }
    $redis->disconnect;
    stop_fake($fake);
};

# --- 6 -----------------------------------------------------------------------

subtest 'subscribe inside a watch_multi (RESP2)' => sub {
    my ( $x, $y, $channel ) = map { "$base:6:$_" } qw(x y chan);
    my $redis = Future::IO::Redis->new( %srv, protocol => 2 );
    my $other = Future::IO::Redis->new(%srv);
    $redis->set( $x => 1 )->get;
    my $inner;
    my $wm = $redis->watch_multi(
        [$x],
        sub {
            my ($tx) = @_;
            $inner = $redis->subscribe($channel);
            return $inner->then( sub { $tx->incr($x); Future->done } );
        }
    );
    ok( FIORTest::ready_within( $wm, 5 ) && $wm->is_failed,    'the watch_multi fails' );
    ok( $inner                           && $inner->is_failed, 'the subscribe in it fails' );
    like( $inner ? message_of($inner) : '',
        qr/watch_multi/, '... while a watch_multi is in progress' );
    is( $redis->is_pubsub, 0, 'not a subscriber' );
    $redis->unsubscribe->get if $redis->is_pubsub;    # (the old code subscribed)
    is( $redis->watching, 0, 'not watching' );

    $other->set( $x => 2 )->get;                      # another client changes the key
    my $m = $redis->multi( sub { $_[0]->set( $y => 'plain multi' ) } );
    ok( FIORTest::ready_within( $m, 5 ) && $m->is_done, 'a later plain multi is done' )
        or diag( message_of($m) );
    is( $m->is_done ? $m->get : undef, ['OK'], '... and ran: nothing was still watched' );
    $other->del( $x, $y )->get;
    $_->disconnect for $redis, $other;
};

# --- 7 -----------------------------------------------------------------------

for my $protocol ( 2, 3 ) {
    subtest "fork: the parent's subscription in the child (RESP$protocol)" => sub {
        my ( $pch, $cch, $och ) = map { "$base:7:$protocol:$_" } qw(parent child other);
        my $redis   = Future::IO::Redis->new( %srv, protocol => $protocol );
        my $sub     = $redis->subscribe($pch)->get;
        my $waiting = $sub->next;    # waits in the parent at fork time

        pipe( my $from_child, my $to_parent ) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ( !$pid ) {
            close $from_child;
            alarm 20;
            my $out = eval {
                my $state = sub {
                    my ($f) = @_;
                    return 'pending' unless FIORTest::ready_within( $f, 1 );
                    return 'done' if $f->is_done;
                    my $e = ( $f->failure )[0];
                    return join ' ', 'failed', ref $e, eval { $e->reason } // '-';
                };
                my @r = ( $state->( $sub->next ), $state->($waiting) );
                push @r, $state->( $sub->subscribe($och) );
                my $ping = $redis->ping;
                push @r,
                    FIORTest::ready_within( $ping, 5 ) && $ping->is_done ? $ping->get : 'no PONG';
                my $s = $redis->subscribe($cch);
                FIORTest::ready_within( $s, 5 );
                push @r,
                    $s->is_done && refaddr( $s->get ) != refaddr($sub) ? 'new' : 'same or none';
                my $publisher = Future::IO::Redis->new(%srv);
                my $got       = $s->is_done ? $s->get->next : Future->done(undef);
                $publisher->publish( $cch, 'hello child' )->get;
                FIORTest::ready_within( $got, 5 );
                push @r, $got->is_done && $got->get ? $got->get->{data} : 'nothing';
                join "\t", @r;
            } // "ERROR: $@";
            print {$to_parent} $out;
            close $to_parent;
            POSIX::_exit(0);
        }
        close $to_parent;
        my $out = do { local $/; <$from_child> }
            // '';
        waitpid $pid, 0;
        my $fork = 'failed Future::IO::Redis::Error::Disconnected fork';
        is(
            [ split /\t/, $out, -1 ],
            [
                $fork,  $fork, 'failed Future::IO::Redis::Error::Disconnected closed',
                'PONG', 'new', 'hello child'
            ],
            'in the child: next (new and waiting) fails with Disconnected (fork), '
                . '$sub->subscribe fails, PING works, $redis->subscribe gives a new working one'
        ) or diag("child: $out");

        my $admin = Future::IO::Redis->new(%srv);
        is( $admin->publish( $pch, 'after fork' )->get, 1, 'the parent is still subscribed' );
        ok( FIORTest::ready_within( $waiting, 5 ), "the parent's waiting next gets it" );
        is( $waiting->is_done ? $waiting->get->{data} : undef, 'after fork', '... the message' );
        $_->disconnect for $redis, $admin;
    };
}

done_testing;
