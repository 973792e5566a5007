# Pipelines (Future::IO::Redis::Pipeline), under RESP2 and RESP3: pipelines
# of 1, 1,000 and 100,000 commands give every reply in its own slot, in
# order; command methods (sub-commands too: CONFIG GET, OBJECT ENCODING,
# CLIENT ID) and raw command/add queue the right words and return the
# pipeline; count; max_depth croaks past the limit (the client's
# pipeline_depth by default) and keeps what was queued; hgetall/info/time
# slots are shaped as on the client; an error reply (WRONGTYPE, ERR) sits in
# its slot as an Error::Redis object while its neighbours succeed; an empty
# and a second execute give []; bad input (undef, plain references) fails
# execute with Future::IO::Redis::Error and nothing reaches the server;
# subscriber and setup commands croak when queued; the prefix applies;
# binary keys and values survive. Transport errors fail the whole execute
# with a typed error and the client recovers: CLIENT KILL of the client's own
# connection while a 100,000-command pipeline is in flight (with and without
# reconnect; what was queued is not silently re-sent), and a request timeout
# (private server, DEBUG SLEEP outside and inside the pipeline) after which
# the next command gets its own reply, not a late one.
use Test2::V0;
use Test2::API qw(context);
use IO::Async::Loop;
use Encode qw(encode_utf8);
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;
use FIORServer;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# Kills connections by id and checks the keyspace: never pipelines itself.
my $plain = Future::IO::Redis->new(%$srv);
$plain->connect->get;

# DEBUG SLEEP stalls a whole server: only the private one.
my $server  = FIORServer->new;
my $private = { host => '127.0.0.1', port => $server->port };

# Waits (running the loop) at most $secs for $f; true when it is ready.
# (The timer winning must not cancel $f.)
sub settled {
    my ( $f, $secs ) = @_;
    $loop->await( Future->wait_any( $f->without_cancel, $loop->delay_future( after => $secs ) ) );
    return $f->is_ready;
}

# Two assertions: $got is an array with one slot per wanted reply, and each
# slot is a plain string equal to the wanted one (the first mismatches are
# shown as [ index, got, wanted ]).
sub replies_are {
    my ( $got, $want, $name ) = @_;
    my $ctx = context();
    my @got = ref $got eq 'ARRAY' ? @$got : ();
    is( scalar @got, scalar @$want, "$name: " . @$want . ' replies' );
    my @bad = grep { !defined $got[$_] || ref $got[$_] || $got[$_] ne $want->[$_] } 0 .. $#$want;
    $#bad = 4 if @bad > 5;
    is( [ map { [ $_, $got[$_], $want->[$_] ] } @bad ], [], "$name: every reply in its own slot" );
    $ctx->release;
    return;
}

sub unlink_all {
    my @keys = @_;
    $plain->unlink( splice @keys, 0, 5000 )->get while @keys;
    return;
}

sub is_connection_error {
    my ($err) = @_;
    return ref $err
        && ( $err->isa('Future::IO::Redis::Error::Connection')
        || $err->isa('Future::IO::Redis::Error::Disconnected') );
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key("pipeline$protocol");

        subtest 'a pipeline of one command' => sub {
            my $k = "$base:one";
            my $p = $redis->pipeline;
            isa_ok( $p, ['Future::IO::Redis::Pipeline'], 'pipeline gives a Pipeline' );
            is( $p->count, 0, 'count 0 when new' );
            ref_is( $p->set( $k, 'only' ), $p, 'set returns the pipeline' );
            is( $p->count,               1, 'count 1' );
            is( $plain->exists($k)->get, 0, 'nothing sent before execute' );
            my $f = $p->execute;
            isa_ok( $f, ['Future'], 'execute gives a Future' );
            is( $f->get,              ['OK'], 'one reply: [OK]' );
            is( $plain->get($k)->get, 'only', 'it ran' );
            is( $p->count,            0,      'nothing queued after execute' );
            is( $p->execute->get,     [],     'a second execute gives []' );
            is( $plain->get($k)->get, 'only', '... and sends nothing again' );
            $plain->del($k)->get;
        };

        subtest 'an empty pipeline' => sub {
            my $p = $redis->pipeline;
            is( $p->execute->get,  [],     'execute gives []' );
            is( $p->execute->get,  [],     'again []' );
            is( $redis->ping->get, 'PONG', 'the client goes on' );
        };

        subtest '1,000 commands: every reply in order' => sub {
            my $p = $redis->pipeline;
            my ( @want, @keys );
            for my $i ( 0 .. 999 ) {
                my $kind = $i % 4;
                if ( $kind == 0 ) {
                    $p->set( "$base:s:$i", "value-$i" );
                    push @want, 'OK';
                    push @keys, "$base:s:$i";
                }
                elsif ( $kind == 1 ) {

                    # The value the previous command of this pipeline set.
                    $p->get( "$base:s:" . ( $i - 1 ) );
                    push @want, 'value-' . ( $i - 1 );
                }
                elsif ( $kind == 2 ) {
                    $p->incrby( "$base:c:$i", $i );
                    push @want, $i;
                    push @keys, "$base:c:$i";
                }
                else {
                    $p->incr( "$base:c:" . ( $i - 1 ) );    # i - 1, plus one
                    push @want, $i;
                }
            }
            is( $p->count, 1000, 'count 1000' );
            replies_are( $p->execute->get, \@want, '1,000' );
            is( $plain->get("$base:s:996")->get, 'value-996', 'SETs landed' );
            is( $plain->get("$base:c:998")->get, 999,         'INCRBY + INCR landed' );
            unlink_all(@keys);
        };

        subtest '100,000 commands: every reply in order' => sub {
            my $n = 100_000;
            my $p = $redis->pipeline( max_depth => $n );

            # INCRBY a distinct counter by a distinct amount: the reply is
            # the amount, so any reply in the wrong slot shows.
            $p->incrby( "$base:big:$_", $_ + 1 ) for 0 .. $n - 1;
            is( $p->count, $n, "count $n" );
            replies_are( $p->execute->get, [ 1 .. $n ], '100,000 INCRBY' );

            # Then GET them back, last first: each slot its own value.
            my $g = $redis->pipeline( max_depth => $n );
            $g->get("$base:big:$_") for reverse 0 .. $n - 1;
            replies_are( $g->execute->get, [ reverse 1 .. $n ], '100,000 GET' );
            is( $plain->get("$base:big:54321")->get, 54322, 'the values are on the server' );
            unlink_all( map { "$base:big:$_" } 0 .. $n - 1 );
        };

        subtest 'command methods chain; command and add queue raw words; count' => sub {
            my $k = "$base:chain";
            my $p = $redis->pipeline;
            ref_is( $p->set( $k, 1 )->incr($k)->incrby( $k, 10 )->get($k),
                $p, 'set->incr->incrby->get returns the pipeline' );
            is( $p->count, 4, 'count 4' );
            ref_is( $p->command( 'APPEND', $k, 'x' ),      $p, 'command returns the pipeline' );
            ref_is( $p->add( 'GET', $k ),                  $p, 'add returns the pipeline' );
            ref_is( $p->command( 'strlen', $k ),           $p, 'a lower-case name' );
            ref_is( $p->set( "$k:nx", 'first', nx => 1 ),  $p, 'set with options' );
            ref_is( $p->set( "$k:nx", 'second', nx => 1 ), $p, '... twice' );
            is( $p->count, 9, 'count 9' );
            is(
                $p->execute->get,
                [ 'OK', 2, 12, '12', 3, '12x', 3, 'OK', undef ],
                'replies in order; raw words sent as given; SET NX: OK, then undef'
            );
            is( $plain->get("$k:nx")->get, 'first', 'SET nx => 1 sent NX' );
            $plain->del( $k, "$k:nx" )->get;
        };

        subtest 'sub-command methods send both words' => sub {
            my ( $int, $str, $long ) = map { "$base:enc:$_" } qw(int str long);
            my $p = $redis->pipeline;
            ref_is( $p->config_get('maxmemory'), $p, 'config_get returns the pipeline' );
            ref_is( $p->set( $int, 12345 )->set( $str, 'abc' )->set( $long, 'x' x 100 ),
                $p, 'sets chain' );
            ref_is( $p->object_encoding($int), $p, 'object_encoding returns the pipeline' );
            $p->object_encoding($str)->object_encoding($long)->client_id;
            my $r = $p->execute->get;
            is( scalar @$r, 8, '8 replies' );

            my $conf = $r->[0];
            my %conf = ref $conf eq 'HASH' ? %$conf : ref $conf eq 'ARRAY' ? @$conf : ();
            is( [ keys %conf ], ['maxmemory'], 'CONFIG GET maxmemory: maxmemory alone' );
            like( $conf{maxmemory}, qr/\A[0-9]+\z/, '... a number' );
            is( $conf, $redis->config_get('maxmemory')->get, '... as the client method gives it' );
            is(
                [ @$r[ 1 .. 6 ] ],
                [ 'OK', 'OK', 'OK', 'int', 'embstr', 'raw' ],
                'OBJECT ENCODING of each key'
            );
            is( $r->[7], $redis->client_id->get, 'CLIENT ID: the client\'s own connection' );
            $plain->del( $int, $str, $long )->get;
        };

        subtest 'hgetall, info and time slots are shaped as on the client' => sub {
            my $h = "$base:shape:hash";
            my $s = "$base:shape:str";
            $plain->hset( $h, f1 => 'v1', f2 => "\0bin" )->get;
            $plain->set( $s, 'plain' )->get;
            my $p = $redis->pipeline;
            ref_is( $p->hgetall($h),    $p, 'hgetall returns the pipeline' );
            ref_is( $p->info('server'), $p, 'info returns the pipeline' );
            ref_is( $p->time,           $p, 'time returns the pipeline' );
            $p->hgetall("$base:shape:missing")->hgetall($s)->get($s);
            my $r = $p->execute->get;
            is( scalar @$r, 6,                             '6 replies' );
            is( $r->[0],    { f1 => 'v1', f2 => "\0bin" }, 'hgetall: a hashref' );
            is(
                $r->[1],
                hash {
                    field server => hash {
                        field redis_version => match qr/\A[0-9]+\.[0-9]+/;
                        field tcp_port      => match qr/\A[0-9]+\z/;
                        etc();
                    };
                    end();
                },
                'info server: { server => { key => value } }'
            );
            is(
                $r->[2],
                hash {
                    field seconds      => match qr/\A[0-9]+\z/;
                    field microseconds => match qr/\A[0-9]+\z/;
                    end();
                },
                'time: { seconds, microseconds }'
            );
            my $t = ref $r->[2] eq 'HASH' ? $r->[2] : { seconds => 0, microseconds => 1e9 };
            ok( abs( $t->{seconds} - time ) < 3600, 'time: the server\'s clock' );
            ok( $t->{microseconds} < 1_000_000,     'time: microseconds < 1,000,000' );
            is( $r->[3], {}, 'hgetall of a missing key: {}' );
            isa_ok(
                $r->[4],
                ['Future::IO::Redis::Error::Redis'],
                'hgetall of a string: the error in its slot'
            );
            is( ref $r->[4] && $r->[4]->type, 'WRONGTYPE', '... WRONGTYPE' );
            is( $r->[5],                      'plain',     'the slot after it' );
            $plain->del( $h, $s )->get;
        };

        subtest 'an error reply stays in its slot; the others succeed' => sub {
            my $s = "$base:err:s";
            my $c = "$base:err:c";
            my $p = $redis->pipeline;
            $p->set( $s, 'text' )->incr($c)->lpush( $s, 'x' )->incr($c)->incr($s)->get($s)
                ->incr($c);
            my $f = $p->execute;
            $f->await;
            ok( $f->is_done, 'execute succeeds' ) or diag( 'failed: ' . ( $f->failure // '' ) );
            my $r = $f->is_done ? $f->get : [];
            is( scalar @$r,               7,                         '7 slots' );
            is( [ @$r[ 0, 1, 3, 5, 6 ] ], [ 'OK', 1, 2, 'text', 3 ], 'the neighbours succeeded' );
            isa_ok( $r->[2], ['Future::IO::Redis::Error::Redis'], 'LPUSH on a string' );
            is( ref $r->[2]   && $r->[2]->type, 'WRONGTYPE', '... type WRONGTYPE' );
            like( ref $r->[2] && $r->[2]->message, qr/wrong kind of value/, '... the message' );
            isa_ok( $r->[4], ['Future::IO::Redis::Error::Redis'], 'INCR on text' );
            is( ref $r->[4]   && $r->[4]->type, 'ERR', '... type ERR' );
            like( ref $r->[4] && $r->[4]->message, qr/not an integer/, '... the message' );
            is( $plain->get($s)->get, 'text', 'the failed commands changed nothing' );
            is( $redis->get($c)->get, 3,      'the client goes on' );
            $plain->del( $s, $c )->get;
        };

        subtest 'max_depth' => sub {
            my $k = "$base:depth";
            my $p = $redis->pipeline( max_depth => 3 );
            $p->incr($k)->incr($k)->incr($k);
            like( dies { $p->incr($k) }, qr/depth.*limit.*exceeded/, 'a 4th method croaks' );
            like( dies { $p->command( 'INCR', $k ) },
                qr/depth.*limit.*exceeded/, 'a 4th command croaks' );
            like( dies { $p->add( 'INCR', $k ) }, qr/depth.*limit.*exceeded/, 'a 4th add croaks' );
            is( $p->count,            3,           'what was queued is kept' );
            is( $p->execute->get,     [ 1, 2, 3 ], '... and runs' );
            is( $plain->get($k)->get, 3,           'exactly three INCRs ran' );

            my $small = Future::IO::Redis->new( %$srv, protocol => $protocol, pipeline_depth => 5 );
            my $sp    = $small->pipeline;
            $sp->echo("e$_") for 1 .. 5;
            like( dies { $sp->echo('e6') },
                qr/depth.*limit.*exceeded/,
                'max_depth defaults to the client\'s pipeline_depth (5)' );
            is( $sp->count,        5,                        '5 queued' );
            is( $sp->execute->get, [ map { "e$_" } 1 .. 5 ], 'and they run' );
            $small->disconnect;

            my $dp = $redis->pipeline;
            ok( lives { $dp->echo($_) for 1 .. 10_000 }, '10,000 queue with the default depth' )
                or diag($@);
            like( dies { $dp->echo('too many') },
                qr/depth.*limit.*exceeded/,
                'the 10,001st croaks (pipeline_depth defaults to 10,000)' );
            is( $dp->count, 10_000, '10,000 queued' );
            $plain->del($k)->get;
        };

        subtest 'bad input fails execute; nothing is sent' => sub {
            for my $case ( [ 'undef', undef ], [ 'an array ref', [1] ],
                [ 'a hash ref', { a => 1 } ] ) {
                my ( $what, $bad ) = @$case;
                my ( $k1, $k2, $k3 ) = map { "$base:bad:$_" } 1 .. 3;
                my $p = $redis->pipeline;
                ok( lives { $p->set( $k1, 'a' )->incr($k2)->set( $k3, $bad )->incr($k2) },
                    "$what: queueing does not die" )
                    or diag($@);
                my $err = FIORTest::failure_of( $p->execute );
                isa_ok( $err, ['Future::IO::Redis::Error'], "$what: execute fails with an Error" );
                ok(
                    ref $err
                        && !$err->isa('Future::IO::Redis::Error::Redis')
                        && !is_connection_error($err),
                    "$what: a bad-input error, not a server or connection one"
                ) or diag( ref $err );
                is( $plain->exists( $k1, $k2, $k3 )->get, 0,     "$what: nothing was sent" );
                is( $redis->get($k1)->get,                undef, "$what: the client goes on" );
            }
            is(
                $redis->pipeline->set( "$base:bad:1", 'ok' )->get("$base:bad:1")->execute->get,
                [ 'OK', 'ok' ],
                'a good pipeline afterwards'
            );
            $plain->del("$base:bad:1")->get;
        };

        subtest 'subscriber and setup commands croak when queued' => sub {
            my $p = $redis->pipeline;
            $p->echo('before');
            my @cases = (
                [ 'subscribe',            sub { $p->subscribe('ch') } ],
                [ 'command SUBSCRIBE',    sub { $p->command( 'SUBSCRIBE', 'ch' ) } ],
                [ 'add subscribe',        sub { $p->add( 'subscribe', 'ch' ) } ],
                [ 'psubscribe',           sub { $p->psubscribe('p*') } ],
                [ 'ssubscribe',           sub { $p->ssubscribe('ch') } ],
                [ 'unsubscribe',          sub { $p->unsubscribe('ch') } ],
                [ 'monitor',              sub { $p->monitor } ],
                [ 'client_reply',         sub { $p->client_reply('OFF') } ],
                [ 'command CLIENT REPLY', sub { $p->command( 'CLIENT', 'REPLY', 'SKIP' ) } ],
                [ 'command RESET',        sub { $p->command('RESET') } ],
                [ 'command HELLO 3',      sub { $p->command( 'HELLO', 3 ) } ],
            );
            for my $case (@cases) {
                my ( $name, $code ) = @$case;
                ok( dies { $code->() }, "$name croaks" );
            }
            like( dies { $p->subscribe('ch') }, qr/subscribe/i, 'the message names it' );
            is( $p->count,                  1,          'none of them was queued' );
            is( $p->execute->get,           ['before'], 'the rest runs' );
            is( $redis->echo('after')->get, 'after',    'the client is no subscriber' );
        };

        subtest 'the prefix applies to the keys' => sub {
            my $prefix = FIORTest::unique_key('pfx') . ':';
            my ( $ka, $kb, $kc, $kn ) = map { FIORTest::unique_key("pk$_") } qw(a b c n);
            my $pc = Future::IO::Redis->new( %$srv, protocol => $protocol, prefix => $prefix );
            my $p  = $pc->pipeline;
            $p->set( $ka, 'one' )->mset( $kb, 'two', $kc, 'three' )->get($ka)->incr($kn)
                ->exists( $ka, $kb, $kc, $kn )->mget( $ka, $kb, $kc );
            is(
                $p->execute->get,
                [ 'OK', 'OK', 'one', 1, 4, [ 'one', 'two', 'three' ] ],
                'the prefixed client sees its keys'
            );
            is(
                $plain->mget( map { "$prefix$_" } $ka, $kb, $kc, $kn )->get,
                [ 'one', 'two', 'three', '1' ],
                'stored under the prefix'
            );
            is( $plain->exists( $ka, $kb, $kc, $kn )->get, 0, 'nothing stored without it' );
            $plain->del( map { "$prefix$_" } $ka, $kb, $kc, $kn )->get;
            $pc->disconnect;
        };

        subtest 'binary keys and values survive' => sub {
            my @values = (
                "\0", "\r\n", "a\0b\r\nc\xff\xfe", join( '', map { chr } 0 .. 255 ),
                '',   '$5',   '*1', ( "\x00\xff" x 300_000 ),
            );
            my $utf8 = "caf\x{e9} \x{263a}";
            my $bk   = "$base:bin:\0\xff\r\n*";
            my $p    = $redis->pipeline;
            $p->set( "$base:bin:$_", $values[$_] ) for 0 .. $#values;
            $p->get("$base:bin:$_") for 0 .. $#values;
            $p->set( $bk, "\xff\0" )->get($bk)->set( "$base:bin:utf8", $utf8 )
                ->get("$base:bin:utf8");
            my $r = $p->execute->get;
            my $n = @values;
            is( scalar @$r,             2 * $n + 4,      'every slot' );
            is( [ @$r[ 0 .. $n - 1 ] ], [ ('OK') x $n ], 'the SETs' );
            FIORTest::bytes_are( $r->[ $n + $_ ],    $values[$_], "value $_" ) for 0 .. $#values;
            FIORTest::bytes_are( $r->[ 2 * $n + 1 ], "\xff\0",    'a binary key' );
            FIORTest::bytes_are( $r->[ 2 * $n + 3 ],
                encode_utf8($utf8), 'a UTF-8 string: sent as UTF-8 bytes' );
            FIORTest::bytes_are( $plain->get($bk)->get, "\xff\0", 'the binary key as stored' );
            $plain->del( $bk, "$base:bin:utf8", map { "$base:bin:$_" } 0 .. $#values )->get;
        };

        subtest 'CLIENT KILL with a 100,000-command pipeline in flight' => sub {
            for my $reconnect ( 0, 1 ) {
                subtest(
                    ( $reconnect ? 'with' : 'without' ) . ' reconnect' => sub {
                        my $k = "$base:kill:$reconnect";
                        my $c = Future::IO::Redis->new(
                            %$srv,
                            protocol        => $protocol,
                            request_timeout => 30,
                            ( $reconnect ? ( reconnect => 1, reconnect_delay => 0.01 ) : () ),
                        );
                        $c->connect->get;
                        $c->set( "$k:known", 'known' )->get;
                        my $id = $c->client_id->get;

                        # A BLPOP at the head holds the other 100,000 on the
                        # server: they are all in flight when the kill comes.
                        my $p = $c->pipeline( max_depth => 100_001 );
                        $p->blpop( "$k:never", 20 );
                        $p->incrby( "$k:n", $_ ) for 1 .. 100_000;
                        my $f = $p->execute;

                        my $blocked = 0;
                        for ( 1 .. 1000 ) {
                            my $line = $plain->client_list( 'ID', $id )->get;
                            if ( $line =~ /\bcmd=blpop\b/ ) { $blocked = 1; last }
                            $loop->delay_future( after => 0.01 )->get;
                        }
                        ok( $blocked, 'the pipeline reached the server (BLPOP holds the rest)' );
                        is( $plain->client_kill( 'ID', $id )->get, 1, 'its connection killed' );

                        ok( settled( $f, 25 ), 'execute settled (did not hang)' );
                        ok( $f->is_failed,     'execute failed' );
                        my $err = $f->is_failed ? $f->failure : undef;
                        ok( is_connection_error($err),
                            'with Error::Connection or Error::Disconnected' )
                            or diag( 'got: ' . ( ref $err || $err // 'nothing' ) );

                        if ($reconnect) {
                            my $g = $c->get("$k:known");
                            ok( settled( $g, 10 ), 'the next command settles' );
                            is( $g->is_done ? $g->get : $g->failure,
                                'known', 'reconnect: the next command gets its own reply' );
                            isnt( $c->client_id->get, $id, '... on a new connection' );
                        }
                        else {
                            for ( 1 .. 200 ) {
                                last unless $c->is_connected;
                                $loop->delay_future( after => 0.05 )->get;
                            }
                            ok( !$c->is_connected, 'reports disconnected' );
                            is( $c->connect->get->get("$k:known")->get,
                                'known', 'connect again: the next command gets its own reply' );
                        }
                        is( $plain->exists("$k:n")->get,
                            0, 'none of the queued INCRBYs ran (nothing re-sent)' );
                        is(
                            $c->pipeline->set( "$k:after", 'a' )->get("$k:after")->execute->get,
                            [ 'OK', 'a' ],
                            'a pipeline works again'
                        );
                        $c->disconnect;
                        $plain->del( "$k:known", "$k:after", "$k:n" )->get;
                    }
                );
            }
        };

        subtest 'a request timeout fails the whole execute; the next command gets its own reply' =>
            sub {
            my $k = "timeout$protocol";
            my $c = Future::IO::Redis->new(
                %$private,
                protocol        => $protocol,
                request_timeout => 0.3,
                reconnect       => 1,
                reconnect_delay => 0.01,
            );
            my $staller = Future::IO::Redis->new( %$private, request_timeout => 0 );
            $loop->await( Future->needs_all( $c->connect, $staller->connect ) )->get;
            $c->set( "$k:1", 'first' )->get;
            $c->set( "$k:2", 'second' )->get;

            # The server stalls while the pipeline waits for its replies.
            my $stall = $staller->debug( 'SLEEP', 1 );
            $loop->delay_future( after => 0.05 )->get;    # let the stall reach the server
            my $f = $c->pipeline->get("$k:1")->get("$k:1")->echo('late')->execute;
            ok( settled( $f, 10 ), 'execute settled' );
            isa_ok(
                $f->is_failed ? $f->failure : $f->get,
                ['Future::IO::Redis::Error::Timeout'],
                'a stalled server: execute fails with Error::Timeout'
            );
            is( $stall->get,           'OK',     'the stall ended' );
            is( $c->get("$k:2")->get,  'second', 'the next GET gets its own value' );
            is( $c->echo('mine')->get, 'mine',   'and the one after it' );

            # DEBUG SLEEP inside the pipeline itself.
            my $g = $c->pipeline->echo('a')->debug( 'SLEEP', '0.8' )->echo('b')->execute;
            ok( settled( $g, 10 ), 'execute settled' );
            isa_ok(
                $g->is_failed ? $g->failure : $g->get,
                ['Future::IO::Redis::Error::Timeout'],
                'a slow command in the pipeline: Error::Timeout'
            );
            is( $staller->ping->get,    'PONG',  'the sleep ended' );
            is( $c->echo('after')->get, 'after', 'the next command gets its own reply' );
            is(
                $c->pipeline->get("$k:1")->get("$k:2")->execute->get,
                [ 'first', 'second' ],
                'a pipeline afterwards gets its own replies'
            );
            $c->del( "$k:1", "$k:2" )->get;
            $c->disconnect;
            $staller->disconnect;
            };

        is( $plain->command( 'KEYS', "$base:*" )->get, [], 'no keys left behind' );
        $redis->disconnect;
    };
}

$plain->disconnect;
done_testing;
